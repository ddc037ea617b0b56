// Robust parsing of Date header values into a UTC calendar day, for the
// "by day" section. Accepts RFC 5322 dates and what real mail writes instead:
// obsolete zone names (GMT, EST, ...), 2-digit years, missing weekday or
// seconds, comments, asctime() order, ISO 8601 dates, stray punctuation.
// Thread-safety: stateless.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace backstop::report {

struct UtcDay {
  int year = 0;   // 1970..2199
  int month = 0;  // 1..12
  int day = 0;    // 1..31, valid for the month
};

// The UTC day of `value`, or nullopt when no plausible date is found.
// Linear in the input; never throws.
std::optional<UtcDay> parse_date_day(std::string_view value);

// "YYYY-MM-DD" of parse_date_day, or "" when unparsable.
std::string date_day_string(std::string_view value);

}  // namespace backstop::report
