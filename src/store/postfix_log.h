// Seeding the ledger from Postfix logs. Pure: lines in, records out, no I/O.
//
// Recognised lines (any syslog prefix: "Nov 27 16:00:01 host", the
// maillog_file form with microseconds, or RFC 3339 "2026-11-27T16:00:01.5+00:00 host"):
//   <prefix> postfix/cleanup[pid]: QUEUEID: message-id=<id>
//   <prefix> postfix/qmgr[pid]: QUEUEID: from=<sender>, size=N, nrcpt=N (queue active)
//   <prefix> postfix/smtp[pid]: QUEUEID: to=<rcpt>, relay=..., status=sent (...)
//            (also lmtp, local, virtual, pipe)
//   <prefix> postfix/qmgr[pid]: QUEUEID: removed
// The program may carry a multi-instance name ("postfix-out/smtp").
// Thread-safety: parse_line is pure; a Correlator is not shared between threads.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/store.h"

namespace backstop::store::postfix_log {

// Syslog lines are < 8 KiB (rsyslog's default maximum message size); longer
// lines are not Postfix's and are skipped.
inline constexpr std::size_t kMaxLineBytes = 8192;
// Postfix queue ids: short ids are 10-12 hex digits, long ids ~15-20 characters.
inline constexpr std::size_t kMaxQueueIdBytes = 32;
// Messages in flight between their first and last line; older ones are
// emitted (if complete) or dropped beyond this, bounding memory on huge logs.
inline constexpr std::size_t kMaxPending = 100000;

enum class Event { kMessageId, kFrom, kTo, kRemoved };

struct LogLine {
  Event event = Event::kMessageId;
  std::string_view program;   // last component: "cleanup", "qmgr", "smtp", ...
  std::string_view queue_id;
  std::string_view value;     // message-id without <>, sender or recipient without <>
  std::int64_t time = 0;      // unix seconds; 0 if the timestamp was not understood
};

// One line (without its newline). `now` resolves year-less syslog stamps (the
// latest year that does not put the line more than a day in the future).
std::optional<LogLine> parse_line(std::string_view line, std::int64_t now);

struct ImportedMessage {
  std::string message_id;
  LedgerEntry entry;     // time: of the message-id line, or of the first line seen
  bool relayed = false;  // a to= line from smtp: the message left this server
};

// Joins the lines of each queue id into messages.
class Correlator {
 public:
  explicit Correlator(std::int64_t now) : now_(now) {}
  // Feeds one line; completed messages (at "removed") are appended to `out`.
  void feed(std::string_view line, std::vector<ImportedMessage>* out);
  // Emits every pending message that has a message-id and a sender.
  void finish(std::vector<ImportedMessage>* out);
  std::size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    ImportedMessage msg;
    bool has_id = false;
    bool has_from = false;
  };
  void emit(const std::string& queue_id, std::vector<ImportedMessage>* out);

  std::int64_t now_;
  std::unordered_map<std::string, Pending> pending_;
  std::deque<std::string> order_;  // queue ids in arrival order, for eviction
};

}  // namespace backstop::store::postfix_log
