// BATV at RCPT for inbound mail: the one decision the milter and the policy
// service give a recipient. A bounce (null sender or MAILER-DAEMON) to one
// of our addresses must carry a valid BATV tag; without one it is refused
// under `batv.mode = enforce` past the grace period, and only counted in tag
// mode or during the grace period. Trap addresses are never checked here.
// Every checked recipient is counted in backstop_batv_recipients_total
// (action accept, record, grace or reject); a refusal is logged.
// Thread-safety: check_rcpt() may be called from any thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "daemon/engine.h"

namespace backstop::daemon {

using DecisionLog = std::function<void(std::string_view line)>;

struct RcptCheck {
  enum class Kind {
    kUnchecked,  // not a bounce, not one of our addresses, or BATV off
    kTrap,       // a trap address (judged as a trap hit at end of message)
    kAccept,     // a valid tag; deliver to `untagged`
    kRecord,     // no valid tag; counted, not refused (tag mode or grace period)
    kReject,     // no valid tag under enforcement: refuse with code, status, text
  };
  Kind kind = Kind::kUnchecked;
  std::string untagged;  // kAccept: the recipient without its tag
  int code = 0;          // kReject: the SMTP reply code (550)
  std::string status;    // kReject: the enhanced status code ("5.7.1")
  std::string text;      // kReject: the reply text
};

// Checks recipient `rcpt` (no angle brackets) of a message from `sender`
// ("" for the null sender) under `snap`. A refusal is given to `log` (may be
// empty) as "role=batv rcpt=... batv=<result> action=reject"; the caller
// puts its connection's fields in front.
RcptCheck check_rcpt(Engine& engine, const Snapshot& snap, std::string_view sender, std::string_view rcpt,
                     const DecisionLog& log);

// True for the senders of bounces: the null sender and MAILER-DAEMON@any.
bool is_bounce_sender(std::string_view sender);

}  // namespace backstop::daemon
