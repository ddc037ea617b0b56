// The scan pipeline of `backstop scan`: one reader thread streams messages
// from mail::open_source over each path; N worker threads parse and classify;
// the calling thread receives results in input order (path order, then
// message index) through the sink.
//
// Memory bound: raw message bytes held between the reader and the sink are at
// most max(max_inflight_bytes, max_message_bytes), and at most
// max_inflight_items records wait in the reorder buffer. With the defaults
// (64 MiB, 64 MiB cap per message, 1024 items) the pipeline holds at most
// 64 MiB of raw mail plus the reader's one-message buffer (<= 64 MiB) plus
// per-worker parse state, whatever the size of the input.
// Thread-safety: run_scan is reentrant; the sink is called on the calling
// thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "classify/classifier.h"
#include "common/result.h"
#include "mail/mailbox.h"
#include "report/record.h"
#include "report/source.h"

namespace backstop::report {

struct ScanOptions {
  std::vector<std::string> paths;
  unsigned jobs = 0;  // worker threads; 0 = std::thread::hardware_concurrency()
  std::shared_ptr<const classify::Rules> rules;
  Trusted trusted;    // relays whose Received hops are skipped for attribution
  std::size_t max_inflight_bytes = 64u << 20;
  std::size_t max_inflight_items = 1024;
  std::size_t max_message_bytes = mail::kMaxMessageBytes;
};

struct ScanProgress {
  std::uint64_t messages = 0;  // results delivered so far (messages + errors)
  std::uint64_t bytes = 0;     // raw bytes read so far
  double seconds = 0.0;        // since the scan started
};

struct ScanSink {
  std::function<void(const MessageRecord&)> on_message;
  std::function<void(const ErrorRecord&)> on_error;
  // Called about every progress_interval_ms while the scan runs (may be empty).
  std::function<void(const ScanProgress&)> on_progress;
  unsigned progress_interval_ms = 250;
};

struct ScanStats {
  std::uint64_t messages = 0;
  std::uint64_t errors = 0;
  std::uint64_t bytes = 0;
  std::size_t paths_opened = 0;
  std::size_t paths_failed = 0;
  double seconds = 0.0;
};

// Runs the scan to the end. Per-message and per-file errors go to
// sink.on_error and the scan goes on. A message that parses but is damaged
// (ends inside its header section, or was cut at the size cap) is delivered
// to on_message and also reported to on_error ("truncated" / "too-large"). Fails (kNotFound) only when no path
// could be opened at all, kInvalidArgument when there are no paths or rules.
Result<ScanStats> run_scan(const ScanOptions& options, const ScanSink& sink);

}  // namespace backstop::report
