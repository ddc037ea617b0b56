#include "report/console.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/text.h"

namespace backstop::report {
namespace {

// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string megabytes(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// Seconds as "M:SS" or "H:MM:SS".
std::string duration(double seconds) {
  const auto s = static_cast<std::uint64_t>(std::llround(std::max(0.0, seconds)));
  char buf[48];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llu:%02llu", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  }
  return buf;
}

}  // namespace

std::string progress_line(std::uint64_t messages, std::uint64_t bytes, double seconds,
                          std::uint64_t total_bytes) {
  std::string line = grouped(messages) + (messages == 1 ? " message, " : " messages, ") + megabytes(bytes);
  if (total_bytes > 0) {
    const std::uint64_t done = std::min(bytes, total_bytes);
    const auto percent = static_cast<unsigned>(done * 100 / total_bytes);
    line += " of " + megabytes(total_bytes) + " (" + std::to_string(percent) + "%)";
  }
  const double rate = seconds > 0 ? static_cast<double>(messages) / seconds : 0.0;
  line += ", " + grouped(static_cast<std::uint64_t>(std::llround(rate))) + " msgs/s";
  if (total_bytes > 0 && seconds > 0 && bytes > 0) {
    const double left = static_cast<double>(total_bytes - std::min(bytes, total_bytes)) *
                        seconds / static_cast<double>(bytes);
    line += ", " + duration(left) + " left";
  }
  return line;
}

std::string error_line(const ErrorRecord& e) {
  std::string line = text::sanitize_utf8(e.file + " #" + std::to_string(e.index) + ": " + e.code + ": " + e.message);
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  return line;
}

bool ErrorTally::show(const ErrorRecord&) { return ++total_ <= shown_; }

std::string ErrorTally::closing_line(std::string_view errors_file) const {
  const std::size_t n = hidden();
  if (n == 0) return {};
  std::string line = "... and " + grouped(n) + " more unreadable " + (n == 1 ? "entry" : "entries");
  if (errors_file.empty()) return line + "; --errors FILE lists them all";
  return line + " (all " + grouped(total_) + " in " + text::sanitize_utf8(errors_file) + ")";
}

}  // namespace backstop::report
