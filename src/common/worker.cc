#include "common/worker.h"

#include <exception>
#include <utility>

#include "common/thread_name.h"

namespace backstop::common {

Worker::Worker(std::string thread_name, std::size_t max_queued)
    : max_queued_(max_queued), name_(std::move(thread_name)), thread_([this] { run(); }) {}

Worker::~Worker() { stop(); }

bool Worker::post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queued_) {
      ++stats_.refused;
      return false;
    }
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void Worker::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

Worker::Stats Worker::stats() const {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.queued = queue_.size();
  return s;
}

void Worker::run() {
  set_thread_name(name_);
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and every queued task has run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    bool threw = false;
    try {
      task();
    } catch (...) {
      threw = true;
    }
    std::lock_guard lock(mu_);
    ++stats_.run;
    if (threw) ++stats_.exceptions;
  }
}

}  // namespace backstop::common
