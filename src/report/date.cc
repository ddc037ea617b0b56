#include "report/date.h"

#include <array>
#include <cstdio>
#include <vector>

#include "common/text.h"

namespace backstop::report {
namespace {

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[static_cast<std::size_t>(m - 1)];
}

// Days since 1970-01-01 (H. Hinnant's days_from_civil).
long days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const long yoe = y - era * 400;
  const long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

UtcDay civil_from_days(long z) {
  z += 719468;
  const long era = (z >= 0 ? z : z - 146096) / 146097;
  const long doe = z - era * 146097;
  const long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  const int y = static_cast<int>(yoe + era * 400 + (m <= 2));
  return UtcDay{y, m, d};
}

int month_of(std::string_view t) {
  static constexpr std::array<std::string_view, 12> kNames = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (text::istarts_with(t, kNames[i])) {
      return static_cast<int>(i + 1);
    }
  }
  return 0;
}

// Offset in minutes east of UTC for an obsolete zone name (RFC 5322 §4.3).
std::optional<int> zone_name_offset(std::string_view t) {
  const std::string z = text::ascii_lower(t);
  if (z == "ut" || z == "utc" || z == "gmt" || z == "z") return 0;
  if (z == "edt") return -4 * 60;
  if (z == "est" || z == "cdt") return -5 * 60;
  if (z == "cst" || z == "mdt") return -6 * 60;
  if (z == "mst" || z == "pdt") return -7 * 60;
  if (z == "pst") return -8 * 60;
  return std::nullopt;
}

bool all_digits(std::string_view t) {
  if (t.empty()) return false;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int to_int(std::string_view t) {
  int v = 0;
  for (char c : t) {
    v = v * 10 + (c - '0');
    if (v > 1000000) return v;
  }
  return v;
}

}  // namespace

std::optional<UtcDay> parse_date_day(std::string_view value) {
  if (value.size() > 512) value = value.substr(0, 512);
  // Drop comments: "(CET)" and the like carry nothing we need.
  std::string text;
  int depth = 0;
  for (char c : value) {
    if (c == '(') { ++depth; continue; }
    if (c == ')') { if (depth > 0) --depth; continue; }
    if (depth == 0) text += c;
  }
  std::vector<std::string_view> tokens;
  std::string_view sv = text;
  std::size_t i = 0;
  while (i < sv.size()) {
    while (i < sv.size() && (sv[i] == ' ' || sv[i] == '\t' || sv[i] == ',' || sv[i] == '\r' ||
                             sv[i] == '\n' || sv[i] == '.')) {
      ++i;
    }
    std::size_t start = i;
    while (i < sv.size() && !(sv[i] == ' ' || sv[i] == '\t' || sv[i] == ',' || sv[i] == '\r' ||
                              sv[i] == '\n')) {
      ++i;
    }
    if (i > start) tokens.push_back(sv.substr(start, i - start));
  }

  int year = -1, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int zone = 0;
  bool have_zone = false, have_time = false;
  for (std::string_view t : tokens) {
    // ISO 8601: 2024-01-05 or 2024-01-05T10:00:00Z / +01:00
    if (t.size() >= 10 && all_digits(t.substr(0, 4)) && t[4] == '-' && all_digits(t.substr(5, 2)) &&
        t[7] == '-' && all_digits(t.substr(8, 2))) {
      year = to_int(t.substr(0, 4));
      month = to_int(t.substr(5, 2));
      day = to_int(t.substr(8, 2));
      if (t.size() >= 16 && (t[10] == 'T' || t[10] == 't') && all_digits(t.substr(11, 2)) &&
          t[13] == ':' && all_digits(t.substr(14, 2))) {
        hour = to_int(t.substr(11, 2));
        minute = to_int(t.substr(14, 2));
        have_time = true;
        std::string_view rest = t.substr(16);
        if (rest.size() >= 3 && rest[0] == ':' && all_digits(rest.substr(1, 2))) rest = rest.substr(3);
        while (!rest.empty() && (rest[0] == '.' || (rest[0] >= '0' && rest[0] <= '9'))) {
          rest = rest.substr(1);
        }
        if (rest == "Z" || rest == "z") {
          have_zone = true;
        } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
                   all_digits(rest.substr(1, 2)) && all_digits(rest.substr(4, 2))) {
          zone = to_int(rest.substr(1, 2)) * 60 + to_int(rest.substr(4, 2));
          if (rest[0] == '-') zone = -zone;
          have_zone = true;
        }
      }
      continue;
    }
    if (t.find(':') != std::string_view::npos) {
      if (have_time) continue;
      int parts[3] = {0, 0, 0};
      int n = 0;
      std::size_t p = 0;
      bool ok = true;
      while (p <= t.size() && n < 3) {
        std::size_t q = t.find(':', p);
        std::string_view f = t.substr(p, q == std::string_view::npos ? std::string_view::npos : q - p);
        if (!all_digits(f) || f.size() > 2) { ok = false; break; }
        parts[n++] = to_int(f);
        if (q == std::string_view::npos) break;
        p = q + 1;
      }
      if (ok && n >= 2 && parts[0] < 24 && parts[1] < 60 && parts[2] < 61) {
        hour = parts[0];
        minute = parts[1];
        second = parts[2];
        have_time = true;
      }
      continue;
    }
    if ((t[0] == '+' || t[0] == '-') && t.size() == 5 && all_digits(t.substr(1))) {
      if (!have_zone) {
        int hh = to_int(t.substr(1, 2)), mm = to_int(t.substr(3, 2));
        if (hh < 24 && mm < 60) {
          zone = (t[0] == '-' ? -1 : 1) * (hh * 60 + mm);
          have_zone = true;
        }
      }
      continue;
    }
    if (all_digits(t)) {
      int v = to_int(t);
      if (t.size() == 4) {
        if (year < 0) year = v;
      } else if (t.size() == 3) {  // RFC 5322 4.3: a 3-digit year is added to 1900
        if (year < 0) year = 1900 + v;
      } else if (t.size() <= 2 && day == 0 && v >= 1 && v <= 31) {
        day = v;
      } else if (t.size() <= 2 && year < 0) {  // 2-digit year: 00-49 is 20xx
        year = v < 50 ? 2000 + v : 1900 + v;
      }
      continue;
    }
    if (month == 0) {
      if (int m = month_of(t); m != 0) {
        month = m;
        continue;
      }
    }
    if (!have_zone) {
      if (auto z = zone_name_offset(t)) {
        zone = *z;
        have_zone = true;
      }
    }
  }
  (void)second;
  if (year < 1970 || year > 2199 || month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, month)) {
    return std::nullopt;
  }
  long minutes = days_from_civil(year, month, day) * 1440L + hour * 60 + minute - zone;
  long days = minutes >= 0 ? minutes / 1440 : -((-minutes + 1439) / 1440);
  UtcDay out = civil_from_days(days);
  if (out.year < 1970 || out.year > 2199) return std::nullopt;
  return out;
}

std::string date_day_string(std::string_view value) {
  auto d = parse_date_day(value);
  if (!d) return {};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d->year, d->month, d->day);
  return buf;
}

}  // namespace backstop::report
