// Outbound protection as the milter and the policy service apply it: the
// limits at MAIL/RCPT, the autoreply gate at end of message, and the inbound
// facts the gate needs. Each call logs one line per trip or refusal, counts
// it in the metrics, and answers what the MTA should do. A store failure is
// an internal failure: 451 4.3.0, or continue when milter.on_error = accept —
// never 5xx. Thread-safety: the functions may be called from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "daemon/engine.h"
#include "mail/header.h"
#include "outbound/limits.h"

namespace backstop::daemon {

using DecisionLog = std::function<void(std::string_view line)>;

struct GuardAnswer {
  enum class Kind { kContinue, kTempfail, kReject, kHold, kDiscard };
  Kind kind = Kind::kContinue;
  std::string status;  // enhanced status code, e.g. "4.7.1"
  std::string text;    // reply text
};

// A new outbound message (MAIL FROM, or the first RCPT of a policy instance).
GuardAnswer limit_message(Engine& engine, const Snapshot& snap, const outbound::Client& client,
                          const DecisionLog& log, std::string_view log_prefix);
// `n` recipients of the current outbound message.
GuardAnswer limit_recipients(Engine& engine, const Snapshot& snap, const outbound::Client& client,
                             std::int64_t n, const DecisionLog& log, std::string_view log_prefix);

// The autoreply gate for one outbound message: its header fields and body
// as received (mail::parse_message).
GuardAnswer gate_message(Engine& engine, const Snapshot& snap, std::span<const mail::FieldView> headers,
                         std::string_view body, const outbound::Client& client,
                         std::span<const std::string> rcpts, const DecisionLog& log,
                         std::string_view log_prefix);

// Records the gate's facts about an inbound message (by Message-ID), through
// the batch writer. `judged_backscatter`: the judge found an automated
// response; `dnsbl`: the client was found on a DNSBL.
void remember_inbound(Engine& engine, const Snapshot& snap, const mail::HeaderList& headers, std::string_view sender,
                      std::span<const std::string> rcpts, bool judged_backscatter, bool dnsbl);

}  // namespace backstop::daemon
