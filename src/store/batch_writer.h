// BatchWriter: lets event-loop threads hand writes to a background thread that
// commits them in batches (one Store::apply — one LMDB transaction — per batch),
// so a write never blocks an event loop on disk.
//
// Contract: enqueue() never blocks on I/O (it takes a short mutex); when the
// queue holds kMaxQueuedWrites ops it refuses the op (returns false) instead of
// growing without bound — the caller counts it as a lost best-effort write.
// A write that must not be lost (the outbound ledger) passes a Committed
// callback and answers its peer only from it: group commit, since every op
// queued while a transaction commits goes into the next one.
//
// Failures: a failed batch is retried kWriteRetries times with a growing
// pause before its ops count as failed; each failure is reported at once to
// the on_failure hook (for logging and metrics), and healthy() is false from
// a failed attempt until a batch commits again.
// flush() waits until every op enqueued before the call has been applied and
// returns the first error seen since the previous flush (ok if none). The
// destructor flushes and joins the thread.
//
// With a linger, the background thread waits that long after the first op of
// a batch before committing (unless the batch is full, a flush() is waiting or
// the writer stops), so a trickle of writes costs one transaction per linger
// instead of one per write; for soft state whose readers can flush() first.
//
// Thread-safety: enqueue/flush/stats may be called from any thread. The Store
// is not owned and must outlive the writer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "store/store.h"

namespace backstop::store {

// Bounds memory if the disk stalls: ~64 Ki small records is a few MiB.
inline constexpr std::size_t kMaxQueuedWrites = 64 * 1024;
// Ops per transaction: large enough to amortise the commit, small enough that a
// batch's write lock is held only for milliseconds.
inline constexpr std::size_t kMaxBatchOps = 1024;
// Attempts after a failed commit, and the first pause (doubled each time):
// rides out a transient error (a map resize, a reader slot) in ~150 ms, short
// against the MTA's milter timeouts, while a full disk still fails fast.
inline constexpr int kWriteRetries = 3;
inline constexpr std::chrono::milliseconds kRetryPause{20};

// Called on the writer thread once the op's batch committed (ok) or failed
// for good (the error). Must not block or call back into the writer.
using Committed = std::function<void(const Status&)>;
// Called on the writer thread for every failed commit attempt, retried or not:
// the error, the ops in the batch, and whether it will be retried.
using FailureHook = std::function<void(const Error&, std::size_t ops, bool retrying)>;

struct BatchWriterStats {
  std::uint64_t applied = 0;   // ops committed
  std::uint64_t batches = 0;   // transactions committed or failed for good
  std::uint64_t failed = 0;    // ops in batches that failed for good
  std::uint64_t attempts_failed = 0;  // failed commit attempts, retries included
  std::uint64_t refused = 0;   // ops refused (invalid, queue full, stopping)
};

class BatchWriter {
 public:
  // `thread_name` names the background thread (see common/thread_name.h).
  explicit BatchWriter(Store& store, std::chrono::milliseconds linger = std::chrono::milliseconds{0},
                       std::string_view thread_name = "bs-writer", FailureHook on_failure = {});
  ~BatchWriter();
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  // Queues one write; false if the op is invalid (the matching Store call
  // would refuse it), the queue is full or the writer is stopping.
  // With `done`, it is called exactly once if (and only if) this returns
  // true.
  bool enqueue(WriteOp op, Committed done = {});
  // Waits for everything enqueued so far; the first error since the last flush.
  Status flush();
  BatchWriterStats stats() const;
  // False from a failed commit attempt until a later batch commits.
  bool healthy() const;

 private:
  void run();

  Store& store_;
  const std::chrono::milliseconds linger_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  struct Queued {
    WriteOp op;
    Committed done;
  };
  const FailureHook on_failure_;
  std::deque<Queued> queue_;
  std::uint64_t enqueued_seq_ = 0;  // ops accepted so far
  std::uint64_t done_seq_ = 0;      // ops applied or failed so far
  std::optional<Error> first_error_;
  BatchWriterStats stats_;
  int flush_waiters_ = 0;  // flush() calls waiting: end a linger at once
  bool stopping_ = false;
  bool healthy_ = true;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace backstop::store
