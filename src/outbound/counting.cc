#include "outbound/counting.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace backstop::outbound {
namespace {

// State format version bytes: a change of layout changes the byte, and an
// unknown byte reads as empty state (the window starts over).
constexpr char kCountFormat = 'c';
constexpr char kDistinctFormat = 'd';
constexpr char kExactTag = 'e';
constexpr char kRegisterTag = 'r';


// Steps that overlap the last `seconds`, plus the current partial one.
std::int64_t live_steps(std::int64_t seconds, std::int64_t step) { return (seconds + step - 1) / step + 1; }

void put64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
bool get64(std::string_view in, std::size_t& pos, std::uint64_t& v) {
  if (pos > in.size() || in.size() - pos < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(in[pos + i])} << (8 * i);
  pos += 8;
  return true;
}

}  // namespace

Result<Window> parse_window(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(Code::kInvalidArgument, "bad rate window \"" + std::string(text) + "\": " + std::string(why));
  };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad("expected N/DURATION, e.g. 100/1h");
  auto num = [](std::string_view s, std::int64_t& v) {
    if (s.empty() || s.size() > 10) return false;
    v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    return true;
  };
  Window w;
  std::string_view dur = text.substr(slash + 1);
  if (!num(text.substr(0, slash), w.limit) || w.limit < 1 || w.limit > kMaxLimit) return bad("N must be 1 to 1000000000");
  if (dur.empty()) return bad("missing duration");
  std::int64_t unit = 0;
  switch (dur.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return bad("duration unit must be s, m, h or d");
  }
  std::int64_t n = 0;
  if (!num(dur.substr(0, dur.size() - 1), n) || n < 1 || n > kMaxWindowSeconds / unit) {
    return bad("duration must be 1s to 31d");
  }
  w.seconds = n * unit;
  w.text = std::string(text);
  return w;
}

Result<std::vector<Window>> parse_windows(std::string_view text) {
  std::vector<Window> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || text[i] == ' ')) ++i;
    std::size_t j = i;
    while (j < text.size() && text[j] != ',' && text[j] != ' ') ++j;
    if (j > i) {
      if (out.size() == kMaxWindows) {
        return fail(Code::kInvalidArgument, "at most " + std::to_string(kMaxWindows) + " windows per measure");
      }
      auto w = parse_window(text.substr(i, j - i));
      if (!w) return unexpected<Error>(std::move(w).error());
      out.push_back(std::move(*w));
    }
    i = j;
  }
  return out;
}

std::int64_t window_step(std::int64_t seconds, std::int64_t slots) {
  return std::max<std::int64_t>(1, (seconds + slots - 1) / slots);
}

// ---- SlidingCount ----

SlidingCount SlidingCount::decode(std::string_view bytes) {
  SlidingCount c;
  if (bytes.size() < 2 || bytes[0] != kCountFormat) return c;
  const std::size_t n = static_cast<unsigned char>(bytes[1]);
  if (bytes.size() != 2 + n * 16 || n > 2 * kSlots + 2) return c;
  std::size_t pos = 2;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t step = 0, events = 0;
    get64(bytes, pos, step);
    get64(bytes, pos, events);
    c.slots_.emplace_back(static_cast<std::int64_t>(step), static_cast<std::int64_t>(events));
  }
  return c;
}

std::string SlidingCount::encode() const {
  std::string out;
  out.push_back(kCountFormat);
  out.push_back(static_cast<char>(slots_.size()));
  for (const auto& [step, events] : slots_) {
    put64(out, static_cast<std::uint64_t>(step));
    put64(out, static_cast<std::uint64_t>(events));
  }
  return out;
}

std::int64_t SlidingCount::total(std::int64_t now, std::int64_t seconds) const {
  const std::int64_t step = window_step(seconds, kSlots);
  const std::int64_t current = now / step;
  const std::int64_t oldest = current - live_steps(seconds, step) + 1;
  std::int64_t sum = 0;
  for (const auto& [s, events] : slots_) {
    if (s >= oldest && s <= current && events > 0) sum += events;
  }
  return sum;
}

void SlidingCount::add(std::int64_t now, std::int64_t seconds, std::int64_t n) {
  const std::int64_t step = window_step(seconds, kSlots);
  const std::int64_t current = now / step;
  const std::int64_t oldest = current - live_steps(seconds, step) + 1;
  std::erase_if(slots_, [&](const auto& p) { return p.first < oldest || p.first > current; });
  for (auto& [s, events] : slots_) {
    if (s == current) {
      events += n;
      return;
    }
  }
  slots_.emplace_back(current, n);
}

// ---- hashing and sketches ----

std::uint64_t hash64(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  // splitmix64 finaliser
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

void Sketch::set_register(std::uint64_t h) {
  const std::size_t idx = h >> (64 - kPrecision);
  const std::uint64_t rest = h << kPrecision;
  const auto rank = static_cast<std::uint8_t>(
      rest == 0 ? 64 - kPrecision + 1 : std::min(std::countl_zero(rest), 64 - kPrecision) + 1);
  registers_[idx] = std::max(registers_[idx], rank);
}

void Sketch::to_registers() {
  registers_.assign(kRegisters, 0);
  for (auto v : values_) set_register(v);
  values_.clear();
  values_.shrink_to_fit();
}

void Sketch::add(std::uint64_t h) {
  if (!exact()) return set_register(h);
  auto it = std::lower_bound(values_.begin(), values_.end(), h);
  if (it != values_.end() && *it == h) return;
  if (values_.size() == kExactCapacity) {
    to_registers();
    return set_register(h);
  }
  values_.insert(it, h);
}

bool Sketch::contains(std::uint64_t h) const {
  return exact() && std::binary_search(values_.begin(), values_.end(), h);
}

void Sketch::merge(const Sketch& other) {
  if (other.exact()) {
    for (auto v : other.values_) add(v);
    return;
  }
  if (exact()) to_registers();
  for (std::size_t i = 0; i < kRegisters; ++i) registers_[i] = std::max(registers_[i], other.registers_[i]);
}

std::int64_t Sketch::count() const {
  if (exact()) return static_cast<std::int64_t>(values_.size());
  const double m = static_cast<double>(kRegisters);
  double sum = 0;
  std::size_t zeros = 0;
  for (auto r : registers_) {
    sum += std::ldexp(1.0, -static_cast<int>(r));
    if (r == 0) ++zeros;
  }
  const double alpha = 0.7213 / (1.0 + 1.079 / m);
  double e = alpha * m * m / sum;
  if (e <= 2.5 * m && zeros > 0) e = m * std::log(m / static_cast<double>(zeros));  // linear counting
  return static_cast<std::int64_t>(std::llround(e));
}

void Sketch::append_to(std::string& out) const {
  if (exact()) {
    out.push_back(kExactTag);
    out.push_back(static_cast<char>(values_.size() & 0xff));
    out.push_back(static_cast<char>(values_.size() >> 8));
    for (auto v : values_) put64(out, v);
  } else {
    out.push_back(kRegisterTag);
    out.append(reinterpret_cast<const char*>(registers_.data()), registers_.size());
  }
}

bool Sketch::read_from(std::string_view in, std::size_t& pos) {
  values_.clear();
  registers_.clear();
  if (pos >= in.size()) return false;
  const char tag = in[pos++];
  if (tag == kExactTag) {
    if (in.size() - pos < 2) return false;
    const std::size_t n = static_cast<unsigned char>(in[pos]) | (static_cast<std::size_t>(static_cast<unsigned char>(in[pos + 1])) << 8);
    pos += 2;
    if (n > kExactCapacity) return false;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t v = 0;
      if (!get64(in, pos, v)) return false;
      if (!values_.empty() && v <= values_.back()) return false;  // must be sorted and unique
      values_.push_back(v);
    }
    return true;
  }
  if (tag == kRegisterTag) {
    if (in.size() - pos < kRegisters) return false;
    registers_.assign(in.begin() + static_cast<std::ptrdiff_t>(pos), in.begin() + static_cast<std::ptrdiff_t>(pos + kRegisters));
    pos += kRegisters;
    for (auto r : registers_) {
      if (r > 64 - kPrecision + 1) return false;
    }
    return true;
  }
  return false;
}

// ---- SlidingDistinct ----

SlidingDistinct SlidingDistinct::decode(std::string_view bytes) {
  SlidingDistinct d;
  if (bytes.size() < 2 || bytes[0] != kDistinctFormat) return d;
  const std::size_t n = static_cast<unsigned char>(bytes[1]);
  if (n > kSketchSlots + 1) return d;
  std::size_t pos = 2;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t step = 0;
    Sketch s;
    if (!get64(bytes, pos, step) || !s.read_from(bytes, pos)) return SlidingDistinct{};
    d.slots_.emplace_back(static_cast<std::int64_t>(step), std::move(s));
  }
  if (pos != bytes.size()) return SlidingDistinct{};
  return d;
}

std::string SlidingDistinct::encode() const {
  std::string out;
  out.push_back(kDistinctFormat);
  out.push_back(static_cast<char>(slots_.size()));
  for (const auto& [step, sketch] : slots_) {
    put64(out, static_cast<std::uint64_t>(step));
    sketch.append_to(out);
  }
  return out;
}

Sketch SlidingDistinct::live(std::int64_t now, std::int64_t seconds) const {
  const std::int64_t step = window_step(seconds, kSketchSlots);
  const std::int64_t current = now / step;
  const std::int64_t oldest = current - live_steps(seconds, step) + 1;
  Sketch all;
  for (const auto& [s, sketch] : slots_) {
    if (s >= oldest && s <= current) all.merge(sketch);
  }
  return all;
}

void SlidingDistinct::add(std::int64_t now, std::int64_t seconds, std::uint64_t h) {
  const std::int64_t step = window_step(seconds, kSketchSlots);
  const std::int64_t current = now / step;
  const std::int64_t oldest = current - live_steps(seconds, step) + 1;
  std::erase_if(slots_, [&](const auto& p) { return p.first < oldest || p.first > current; });
  for (auto& [s, sketch] : slots_) {
    if (s == current) return sketch.add(h);
  }
  Sketch fresh;
  fresh.add(h);
  slots_.emplace_back(current, std::move(fresh));
}

}  // namespace backstop::outbound
