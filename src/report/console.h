// What `backstop scan` writes on stderr: the progress line of a terminal and
// the lines of unreadable entries (the first few, then a count), and the
// full list of those entries for --errors FILE. Formatting only; the caller
// does the I/O.
// Thread-safety: progress_line and error_line are stateless; an ErrorTally
// is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "report/record.h"

namespace backstop::report {

// Unreadable entries printed on stderr one per line before the rest are only
// counted: a mailbox with hundreds of damaged entries would otherwise bury
// the progress line and the summary (issue 16 saw 720 on one 400 MB mbox).
inline constexpr std::size_t kShownErrors = 10;

// The progress line (no line break, no terminal controls): messages, MB and
// messages/s; when `total_bytes` (the size of the input) is known (> 0), also
// the share done and the time left at the rate so far, e.g.
// "12,345 messages, 120.5 MB of 400.0 MB (30%), 2,469 msgs/s, 0:19 left".
std::string progress_line(std::uint64_t messages, std::uint64_t bytes, double seconds,
                          std::uint64_t total_bytes);

// One unreadable entry as one printable line (no line break): "PATH #INDEX:
// CODE: MESSAGE", invalid UTF-8 and control characters replaced.
std::string error_line(const ErrorRecord& e);

// Decides which unreadable entries are printed: the first `shown`, then
// only counted.
class ErrorTally {
 public:
  explicit ErrorTally(std::size_t shown = kShownErrors) : shown_(shown) {}
  // Counts `e`; true when it is to be printed.
  bool show(const ErrorRecord& e);
  std::size_t total() const noexcept { return total_; }
  std::size_t hidden() const noexcept { return total_ > shown_ ? total_ - shown_ : 0; }
  // The closing line (no line break) when entries were hidden, else "":
  // "... and N more unreadable entries; --errors FILE lists them all", or
  // with `errors_file` given "... and N more unreadable entries (all N' in
  // FILE)".
  std::string closing_line(std::string_view errors_file = {}) const;

 private:
  std::size_t shown_;
  std::size_t total_ = 0;
};

}  // namespace backstop::report
