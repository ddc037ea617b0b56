// Counting primitives of the outbound limits: rate windows ("100/1h"), a
// sliding event count and a sliding distinct-value sketch, each serialised to
// a few bytes so the store can keep them (and a cluster share them later).
// Pure: no I/O, no clock (callers pass `now`); values are not thread-safe,
// the store's records_update() serialises their read-modify-write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace backstop::outbound {

// A window of 31 days at most: longer ones are quotas, not rates, and a
// counter's state must expire within a month.
inline constexpr std::int64_t kMaxWindowSeconds = 31 * 86400;
inline constexpr std::int64_t kMaxLimit = 1'000'000'000;
// Windows per measure of a rule (bounds the keys one message touches).
inline constexpr std::size_t kMaxWindows = 4;
// A sliding count moves in steps of window/kSlots: a counted event is
// remembered for between the window and the window plus one step, so no
// interval of the window's length ever holds more than the limit.
inline constexpr std::int64_t kSlots = 10;
// Distinct sketches slide in coarser steps: each step holds a whole sketch.
inline constexpr std::int64_t kSketchSlots = 4;
// Exact distinct counting up to this many values per step (8 bytes each);
// beyond, HyperLogLog with kRegisters one-byte registers: relative standard
// error 1.04/sqrt(1024) = 3.25%.
inline constexpr std::size_t kExactCapacity = 128;
inline constexpr int kPrecision = 10;
inline constexpr std::size_t kRegisters = std::size_t{1} << kPrecision;

// "N/DURATION": at most N events in any interval of DURATION. DURATION is an
// integer with a unit s, m, h or d ("100/1m", "2000/1d", "20/90m").
struct Window {
  std::int64_t limit = 0;
  std::int64_t seconds = 0;
  std::string text;  // as written, for logs and replies
};
// kInvalidArgument naming the problem.
Result<Window> parse_window(std::string_view text);
// Comma- or space-separated windows; at most kMaxWindows.
Result<std::vector<Window>> parse_windows(std::string_view text);

// The step a window of `seconds` moves in when it keeps `slots` steps
// (kSlots, kSketchSlots): at least one second.
std::int64_t window_step(std::int64_t seconds, std::int64_t slots);

// Events in the last `seconds` (see kSlots). Damaged state decodes as empty.
class SlidingCount {
 public:
  static SlidingCount decode(std::string_view bytes);
  std::string encode() const;
  std::int64_t total(std::int64_t now, std::int64_t seconds) const;
  // Adds n events at `now` and forgets steps that can no longer count.
  void add(std::int64_t now, std::int64_t seconds, std::int64_t n);

 private:
  std::vector<std::pair<std::int64_t, std::int64_t>> slots_;  // (step number, events)
};

// The 64-bit hash the sketches count (FNV-1a, then a 64-bit finaliser so
// every bit is mixed, as HyperLogLog needs).
std::uint64_t hash64(std::string_view s);

// A set of 64-bit hashes: exact up to kExactCapacity, then HyperLogLog.
class Sketch {
 public:
  void add(std::uint64_t h);
  void merge(const Sketch& other);
  bool exact() const { return registers_.empty(); }
  bool contains(std::uint64_t h) const;  // exact mode only; false otherwise
  // The number of distinct values (exact, or the HyperLogLog estimate rounded).
  std::int64_t count() const;
  void append_to(std::string& out) const;
  // Reads one sketch from `in` at `pos`; false on damage.
  bool read_from(std::string_view in, std::size_t& pos);

 private:
  void to_registers();
  void set_register(std::uint64_t h);
  std::vector<std::uint64_t> values_;    // sorted, exact mode
  std::vector<std::uint8_t> registers_;  // kRegisters, sketch mode
};

// Distinct values in the last `seconds` (see kSketchSlots).
class SlidingDistinct {
 public:
  static SlidingDistinct decode(std::string_view bytes);
  std::string encode() const;
  // The union of the steps still inside the window.
  Sketch live(std::int64_t now, std::int64_t seconds) const;
  void add(std::int64_t now, std::int64_t seconds, std::uint64_t h);

 private:
  std::vector<std::pair<std::int64_t, Sketch>> slots_;
};

}  // namespace backstop::outbound
