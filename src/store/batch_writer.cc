#include "store/batch_writer.h"

#include <string>
#include <vector>

#include "common/thread_name.h"

#include "store/internal.h"

namespace backstop::store {

BatchWriter::BatchWriter(Store& store, std::chrono::milliseconds linger, std::string_view thread_name,
                         FailureHook on_failure)
    : store_(store), linger_(linger), on_failure_(std::move(on_failure)), thread_([this, name = std::string(thread_name)] {
        common::set_thread_name(name);
        run();
      }) {}

BatchWriter::~BatchWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_one();
  thread_.join();
}

bool BatchWriter::enqueue(WriteOp op, Committed done) {
  // An invalid op would fail its whole batch: refuse it here instead.
  const bool valid = static_cast<bool>(internal::check_op(op));
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (!valid || stopping_ || queue_.size() >= kMaxQueuedWrites) {
      ++stats_.refused;
      return false;
    }
    queue_.push_back(Queued{std::move(op), std::move(done)});
    ++enqueued_seq_;
    // The thread waits for a first op, or lingers until a batch is full; any
    // other wake-up would only find its predicate false again.
    wake = queue_.size() == 1 || queue_.size() == kMaxBatchOps;
  }
  if (wake) work_cv_.notify_one();
  return true;
}

Status BatchWriter::flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = enqueued_seq_;
  if (done_seq_ < target) {
    ++flush_waiters_;
    work_cv_.notify_one();  // end a linger
    done_cv_.wait(lock, [&] { return done_seq_ >= target; });
    --flush_waiters_;
  }
  if (!first_error_) return {};
  Error e = std::move(*first_error_);
  first_error_.reset();
  return unexpected<Error>(std::move(e));
}

BatchWriterStats BatchWriter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

bool BatchWriter::healthy() const {
  std::lock_guard lock(mu_);
  return healthy_;
}

void BatchWriter::run() {
  std::vector<WriteOp> batch;
  std::vector<Committed> dones;
  batch.reserve(kMaxBatchOps);
  dones.reserve(kMaxBatchOps);
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    if (linger_.count() > 0) {
      work_cv_.wait_for(lock, linger_, [&] {
        return stopping_ || flush_waiters_ > 0 || queue_.size() >= kMaxBatchOps;
      });
    }
    while (!queue_.empty() && batch.size() < kMaxBatchOps) {
      batch.push_back(std::move(queue_.front().op));
      if (queue_.front().done) dones.push_back(std::move(queue_.front().done));
      queue_.pop_front();
    }
    lock.unlock();
    Status s = store_.apply(batch);
    auto pause = kRetryPause;
    for (int attempt = 0; !s; ++attempt) {
      const bool retrying = attempt < kWriteRetries;
      {
        std::lock_guard g(mu_);
        ++stats_.attempts_failed;
        healthy_ = false;
      }
      if (on_failure_) on_failure_(s.error(), batch.size(), retrying);
      if (!retrying) break;
      std::this_thread::sleep_for(pause);
      pause *= 2;
      s = store_.apply(batch);
    }
    if (s) {  // before the callbacks: whoever they wake sees the writer healthy
      std::lock_guard g(mu_);
      healthy_ = true;
    }
    for (auto& d : dones) d(s);
    dones.clear();
    lock.lock();
    ++stats_.batches;
    if (s) {
      stats_.applied += batch.size();
    } else {
      stats_.failed += batch.size();
      if (!first_error_) first_error_ = s.error();
    }
    done_seq_ += batch.size();
    batch.clear();
    done_cv_.notify_all();
  }
}

}  // namespace backstop::store
