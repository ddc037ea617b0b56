#include "mail/dsn_values.h"

#include <array>
#include <vector>

#include "mail/header.h"

namespace backstop::mail {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // RFC 3461 §4: hexchar is upper case only
}

bool is_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int number(std::string_view s) {
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int month_of(std::string_view w) {
  static constexpr std::array<std::string_view, 12> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                               "jul", "aug", "sep", "oct", "nov", "dec"};
  if (w.size() < 3) return 0;
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (iequals(w.substr(0, 3), kMonths[i])) return static_cast<int>(i) + 1;
  }
  return 0;
}

bool weekday(std::string_view w) {
  static constexpr std::array<std::string_view, 7> kDays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  if (w.size() < 3) return false;
  for (auto d : kDays) {
    if (iequals(w.substr(0, 3), d)) return true;
  }
  return false;
}

// Offset east of UTC in seconds, or nullopt when `z` is not a zone.
std::optional<int> zone_offset(std::string_view z) {
  if (z.size() == 5 && (z[0] == '+' || z[0] == '-') && is_digits(z.substr(1))) {
    const int hh = number(z.substr(1, 2)), mm = number(z.substr(3, 2));
    if (hh > 23 || mm > 59) return std::nullopt;
    const int off = hh * 3600 + mm * 60;
    return z[0] == '-' ? -off : off;
  }
  struct Named {
    std::string_view name;
    int hours;
  };
  static constexpr std::array<Named, 11> kNamed = {{{"UT", 0}, {"UTC", 0}, {"GMT", 0}, {"Z", 0}, {"EST", -5},
                                                    {"EDT", -4}, {"CST", -6}, {"CDT", -5}, {"MST", -7},
                                                    {"MDT", -6}, {"PST", -8}}};
  for (const auto& n : kNamed) {
    if (iequals(z, n.name)) return n.hours * 3600;
  }
  if (iequals(z, "PDT")) return -7 * 3600;
  // RFC 5322 §4.3: military zones are unreliable; they count as +0000.
  if (z.size() == 1 && ((z[0] >= 'a' && z[0] <= 'z') || (z[0] >= 'A' && z[0] <= 'Z'))) return 0;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> decode_envid(std::string_view in) {
  if (in.empty() || in.size() > kMaxXtextBytes) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c >= '!' && c <= '~' && c != '=') {
      out.push_back(c);
    } else {
      return std::nullopt;
    }
  }
  if (out.size() > kMaxEnvidChars) return std::nullopt;
  for (char c : out) {
    if (c < ' ' || c > '~') return std::nullopt;
  }
  return out;
}

std::optional<std::string> envid_parameter(std::string_view param) {
  if (param.size() < 6 || !iequals(param.substr(0, 6), "envid=")) return std::nullopt;
  return decode_envid(param.substr(6));
}

std::optional<std::int64_t> parse_date_time(std::string_view value) {
  if (value.size() > kMaxDateBytes) return std::nullopt;
  // Words outside comments; ',' separates like a blank.
  std::vector<std::string_view> words;
  std::size_t depth = 0, start = std::string_view::npos;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    const char c = i < value.size() ? value[i] : ' ';
    const bool sep = c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == '(' || c == ')';
    if (sep && start != std::string_view::npos) {
      if (depth == 0) words.push_back(value.substr(start, i - start));
      start = std::string_view::npos;
    }
    if (c == '(') ++depth;
    else if (c == ')' && depth > 0) --depth;
    else if (!sep && start == std::string_view::npos) start = i;
  }
  std::size_t k = 0;
  if (k < words.size() && weekday(words[k]) && !is_digits(words[k])) ++k;
  if (words.size() < k + 4) return std::nullopt;
  const std::string_view d = words[k], mon = words[k + 1], y = words[k + 2], hms = words[k + 3];
  if (!is_digits(d) || d.size() > 2 || !is_digits(y) || y.size() < 2 || y.size() > 4) return std::nullopt;
  const int month = month_of(mon);
  if (month == 0) return std::nullopt;
  int year = number(y);
  if (y.size() == 2) year += year < 50 ? 2000 : 1900;  // RFC 5322 §4.3
  else if (y.size() == 3) year += 1900;
  const int day = number(d);
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const int mdays = kDays[static_cast<std::size_t>(month - 1)] + (month == 2 && leap(year) ? 1 : 0);
  if (year < 1970 || year > 9999 || day < 1 || day > mdays) return std::nullopt;
  // hh:mm or hh:mm:ss
  int hh = 0, mm = 0, ss = 0;
  {
    const auto c1 = hms.find(':');
    if (c1 == std::string_view::npos) return std::nullopt;
    const auto c2 = hms.find(':', c1 + 1);
    const std::string_view h = hms.substr(0, c1);
    const std::string_view m = hms.substr(c1 + 1, c2 == std::string_view::npos ? std::string_view::npos : c2 - c1 - 1);
    const std::string_view s = c2 == std::string_view::npos ? std::string_view("0") : hms.substr(c2 + 1);
    if (!is_digits(h) || h.size() > 2 || !is_digits(m) || m.size() != 2 || !is_digits(s) || s.size() > 2) {
      return std::nullopt;
    }
    hh = number(h);
    mm = number(m);
    ss = number(s);
    if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;  // 60: a leap second
  }
  int offset = 0;
  if (words.size() > k + 4) {
    auto z = zone_offset(words[k + 4]);
    if (!z) return std::nullopt;
    offset = *z;
  }
  const std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return days * 86400 + hh * 3600 + mm * 60 + ss - offset;
}

}  // namespace backstop::mail
