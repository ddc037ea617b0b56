// Policy: (kind, correlation verdict) -> action and SMTP reply, from the table
// of DESIGN.md §5 with every cell configurable (`actions.<kind>.<verdict>`).
// Pure; no I/O. A reject is always 550 5.7.1 with a text naming the reason;
// an internal failure is always 451 4.3.0 (or accept when configured to fail
// open), never a 5xx.
// Thread-safety: Table is immutable after construction.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "classify/verdict.h"
#include "common/result.h"
#include "config/config.h"
#include "correlate/correlate.h"

namespace backstop::policy {

enum class Action { kAccept, kTag, kQuarantine, kReject, kTempfail };
std::string_view action_name(Action a) noexcept;
bool parse_action(std::string_view name, Action* out) noexcept;

// An SMTP reply: "550", "5.7.1", "text". Text is single-line, printable
// ASCII, at most kMaxReplyText bytes.
struct Reply {
  std::string code;
  std::string status;
  std::string text;
  std::string line() const;  // "550 5.7.1 text"
};
// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including the code.
inline constexpr std::size_t kMaxReplyText = 450;
// Replaces CR, LF and other controls with spaces, drops non-ASCII, cuts to kMaxReplyText.
std::string sanitize_reply_text(std::string_view text);

struct Decision {
  Action action = Action::kAccept;
  Reply reply;               // for kReject and kTempfail
  std::string header_name;   // for kTag (and kQuarantine): e.g. "X-Backscatter"
  std::string header_value;  // "kind=bounce; verdict=unknown; signals=a,b"
  std::string reason;        // one line for the log and `backstop check`
};

class Table {
 public:
  // The defaults of DESIGN.md §5.
  Table();
  // Reads actions.* from configuration (already validated by the key table).
  static Table from_config(const config::Config& cfg);

  Action at(classify::Kind kind, correlate::Verdict verdict) const;
  void set(classify::Kind kind, correlate::Verdict verdict, Action a);
  const std::string& tag_header() const noexcept { return tag_header_; }

  // The decision for a classified, correlated message.
  Decision decide(const classify::Verdict& v, const correlate::Outcome& o) const;

 private:
  // [kind][verdict]; Kind::kNone is always accept.
  std::array<std::array<Action, 3>, 6> cells_{};
  std::string tag_header_ = "X-Backscatter";
};

// When backstop itself fails on a message: 451 4.3.0, or accept when
// `fail_open` (milter.on_error = "accept").
Decision internal_failure(std::string_view what, bool fail_open);

}  // namespace backstop::policy
