// Worker: background threads that run posted tasks, so that an event-loop
// thread hands off work that may wait (a store transaction, a network round
// trip to a shared store) and is answered from the task.
//
// Contract: post() never blocks on the work (it takes a short mutex). When
// `max_queued` tasks wait, or the worker is stopping, it refuses the task
// (returns false) and the caller answers as for an internal failure. With
// one thread (the default) tasks run one at a time, in the order posted; with
// several, each thread takes the oldest waiting task, so tasks start in order
// but overlap (a caller that needs an order waits for one task's answer
// before it posts the next). A task must not post to its own worker and wait
// for that. An exception escaping a task is
// caught, counted in stats().exceptions and the worker goes on (the task's own
// completion is then never called, so tasks that answer a peer catch their
// own).
// stop() runs every task already queued, then joins; the destructor stops.
//
// Thread-safety: post/stats/stop may be called from any thread except the
// worker's own (stop from a task would deadlock).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace backstop::common {

// Tasks waiting before post() refuses: a few seconds of outbound mail at
// thousands of messages a second; beyond that the store is stuck and
// queuing more only delays the 4xx.
inline constexpr std::size_t kMaxQueuedTasks = 16 * 1024;
// Threads one Worker may run: enough to keep a few hundred round trips to a
// shared store in flight; more only adds context switches.
inline constexpr std::size_t kMaxWorkerThreads = 64;

class Worker {
 public:
  struct Stats {
    std::uint64_t run = 0;
    std::uint64_t refused = 0;
    std::uint64_t exceptions = 0;
    std::size_t queued = 0;
  };

  // Starts `threads` threads (at least one, at most kMaxWorkerThreads),
  // named `thread_name` (see set_thread_name; with several, "-N" is added).
  explicit Worker(std::string thread_name, std::size_t max_queued = kMaxQueuedTasks, std::size_t threads = 1);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  bool post(std::function<void()> task);
  void stop();
  Stats stats() const;

 private:
  void run(std::string name);

  const std::size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  Stats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace backstop::common
