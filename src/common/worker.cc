#include "common/worker.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "common/thread_name.h"

namespace backstop::common {

Worker::Worker(std::string thread_name, std::size_t max_queued, std::size_t threads)
    : max_queued_(max_queued) {
  threads = std::clamp<std::size_t>(threads, 1, kMaxWorkerThreads);
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    std::string name = threads == 1 ? thread_name : thread_name + "-" + std::to_string(i);
    threads_.emplace_back([this, name = std::move(name)] { run(name); });
  }
}

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
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
}

Worker::Stats Worker::stats() const {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.queued = queue_.size();
  return s;
}

void Worker::run(std::string name) {
  set_thread_name(name);
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
