// Aggregation of scan results for the summary and the HTML report: counts and
// share by kind, messages by day, top sources, recipients and forged senders
// of backscatter, errors by type.
// Memory: bounded. Each "top" table keeps at most kMaxDistinct keys; keys
// seen after that are counted under "(other)". Errors keep the first
// kMaxErrorSamples records verbatim, then only counts.
// Thread-safety: not synchronised; one thread adds (the scan's output stage).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "report/record.h"

namespace backstop::report {

inline constexpr std::size_t kMaxDistinct = 100000;
inline constexpr std::size_t kMaxErrorSamples = 1000;

// A bounded counter of string keys.
class TopCounter {
 public:
  void add(const std::string& key, std::uint64_t n = 1);
  // The `n` largest counts, ties by key; "(other)" included when it is among them.
  std::vector<std::pair<std::string, std::uint64_t>> top(std::size_t n) const;
  std::size_t distinct() const noexcept { return counts_.size(); }

 private:
  std::unordered_map<std::string, std::uint64_t> counts_;
  std::uint64_t other_ = 0;
};

struct Summary {
  std::uint64_t messages = 0;       // classified messages
  std::uint64_t backscatter = 0;    // kind != none
  std::uint64_t feedback_reports = 0;
  std::uint64_t bytes = 0;          // bytes of classified messages
  std::uint64_t errors = 0;
  std::uint64_t files = 0;          // distinct files that held a message or an error
  std::map<std::string, std::uint64_t> by_kind;                   // every kind, 0 included
  std::map<std::string, std::map<std::string, std::uint64_t>> by_day;  // day -> kind -> n
  std::uint64_t undated = 0;        // messages with no parsable Date
  TopCounter sources;               // backscatter: "ip (host)"
  TopCounter recipients;            // backscatter: local recipients hit
  TopCounter forged_senders;        // backscatter: original sender / original From
  std::map<std::string, std::uint64_t> errors_by_code;
  std::vector<ErrorRecord> error_samples;
};

// The messages by period for the summary and the chart: day, week (from
// Monday), month or year buckets, chosen so that the span of dates fills at
// most a bounded number of buckets (25 years of mail make 300 month buckets,
// not 9,000 day buckets). Dates far from the rest (a broken clock's 1970, a
// spammer's 2099) would stretch the span: messages dated after `today` +
// kFutureSlackDays are counted as `later`, and the earliest messages up to
// kEarlyOutlierShare of the dated ones as `earlier`, outside the buckets.
enum class Granularity { kDay, kWeek, kMonth, kYear };
const char* granularity_name(Granularity g) noexcept;  // "day", "week", "month", "year"

// Day buckets up to 92 (a quarter), week buckets up to 106 (two years),
// month buckets up to 360 (thirty years), else years: a chart of at most a
// few hundred columns, and a summary table a reader can scan.
inline constexpr std::size_t kMaxDayBuckets = 92;
inline constexpr std::size_t kMaxWeekBuckets = 106;
inline constexpr std::size_t kMaxMonthBuckets = 360;
// Dates parse to 1970..2199 (date.h), so years never exceed this; a guard.
inline constexpr std::size_t kMaxYearBuckets = 240;
// Clocks and time zones put real mail at most a day or two ahead of the
// scan; later dates are forged or broken.
inline constexpr int kFutureSlackDays = 2;
// Share of dated messages, at the early end, that may be set apart so that
// a few stray old dates do not widen the span (0.5%).
inline constexpr std::uint64_t kEarlyOutlierPerMille = 5;

struct PeriodBucket {
  std::string label;  // "2024-05-01" (day, or the Monday of a week), "2024-05" (month), "2024" (year)
  std::uint64_t all = 0;
  std::uint64_t backscatter = 0;
  std::map<std::string, std::uint64_t> by_kind;
};

struct Timeline {
  Granularity granularity = Granularity::kDay;
  std::vector<PeriodBucket> buckets;  // consecutive periods, empty ones included
  std::uint64_t earlier = 0;          // dated before the first bucket (outliers)
  std::uint64_t earlier_backscatter = 0;
  std::uint64_t later = 0;            // dated after today + kFutureSlackDays
  std::uint64_t later_backscatter = 0;
};

// `today` is "YYYY-MM-DD" (UTC) of the scan; "" puts no limit on later dates.
Timeline make_timeline(const Summary& s, std::string_view today = {});

class Aggregator {
 public:
  Aggregator();
  void add(const MessageRecord& r);
  void add_error(const ErrorRecord& e);
  const Summary& summary() const noexcept { return s_; }

 private:
  Summary s_;
  std::string last_file_;
};

}  // namespace backstop::report
