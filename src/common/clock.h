// Time behind an interface so tests are hermetic (LevelDB Env, Postfix mocks).
// Thread-safety: implementations must be safe to call from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace backstop {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, seconds since the Unix epoch (UTC).
  virtual std::int64_t now_unix() const = 0;
  // Monotonic time for timeouts and latency, nanoseconds from an arbitrary origin.
  virtual std::int64_t monotonic_ns() const = 0;
  // UTC day number (days since 1970-01-01), as BATV uses.
  std::int64_t unix_day() const { return now_unix() / 86400; }
};

// The real clock. system_clock() returns a process-wide instance.
class SystemClock final : public Clock {
 public:
  std::int64_t now_unix() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
  }
  std::int64_t monotonic_ns() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch()).count();
  }
};
const Clock& system_clock();

// A clock that tests set by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t unix_seconds = 0) : now_(unix_seconds) {}
  std::int64_t now_unix() const override { return now_.load(); }
  std::int64_t monotonic_ns() const override { return mono_.load(); }
  void set(std::int64_t unix_seconds) { now_.store(unix_seconds); }
  void advance(std::int64_t seconds) {
    now_.fetch_add(seconds);
    mono_.fetch_add(seconds * 1'000'000'000);
  }

 private:
  std::atomic<std::int64_t> now_;
  std::atomic<std::int64_t> mono_{0};
};

}  // namespace backstop
