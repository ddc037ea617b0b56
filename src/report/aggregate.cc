#include "report/aggregate.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <tuple>

namespace backstop::report {

void TopCounter::add(const std::string& key, std::uint64_t n) {
  auto it = counts_.find(key);
  if (it != counts_.end()) {
    it->second += n;
  } else if (counts_.size() < kMaxDistinct) {
    counts_.emplace(key, n);
  } else {
    other_ += n;
  }
}

std::vector<std::pair<std::string, std::uint64_t>> TopCounter::top(std::size_t n) const {
  std::vector<std::pair<std::string, std::uint64_t>> v(counts_.begin(), counts_.end());
  if (other_ > 0) v.emplace_back("(other)", other_);
  auto cmp = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  if (v.size() > n) {
    std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n), v.end(), cmp);
    v.resize(n);
  } else {
    std::sort(v.begin(), v.end(), cmp);
  }
  return v;
}

Aggregator::Aggregator() {
  for (const char* k : {"none", "bounce", "virus_notice", "challenge", "subscription_confirm",
                        "autoreply"}) {
    s_.by_kind[k] = 0;
  }
}

void Aggregator::add(const MessageRecord& r) {
  if (r.file != last_file_) {
    ++s_.files;
    last_file_ = r.file;
  }
  ++s_.messages;
  s_.bytes += r.size;
  ++s_.by_kind[r.kind];
  if (r.feedback_report) ++s_.feedback_reports;
  if (r.day.empty()) {
    ++s_.undated;
  } else if (s_.by_day.size() < kMaxDistinct || s_.by_day.count(r.day) != 0) {
    ++s_.by_day[r.day][r.kind];
  } else {
    ++s_.undated;
  }
  if (r.kind == "none") return;
  ++s_.backscatter;
  if (!r.source_ip.empty()) {
    s_.sources.add(r.source_host.empty() ? r.source_ip : r.source_ip + " (" + r.source_host + ")");
  }
  for (const std::string& rcpt : r.local_recipients) s_.recipients.add(rcpt);
  if (!r.refs.original_sender.empty()) {
    s_.forged_senders.add(r.refs.original_sender);
  } else if (!r.refs.from.empty()) {
    s_.forged_senders.add(r.refs.from);
  }
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil) and back.
std::int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * static_cast<unsigned>(m + (m > 2 ? -3 : 9)) + 2) / 5 + static_cast<unsigned>(d) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  int y, m, d;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const auto y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0));
  return Civil{y, static_cast<int>(m), static_cast<int>(d)};
}

// "YYYY-MM-DD" as days since the epoch; nullopt when not that shape.
std::optional<std::int64_t> parse_day(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  int v[3] = {0, 0, 0};
  const std::size_t starts[3] = {0, 5, 8}, lens[3] = {4, 2, 2};
  for (int i = 0; i < 3; ++i) {
    for (std::size_t k = 0; k < lens[i]; ++k) {
      const char c = s[starts[i] + k];
      if (c < '0' || c > '9') return std::nullopt;
      v[i] = v[i] * 10 + (c - '0');
    }
  }
  if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31) return std::nullopt;
  return days_from_civil(v[0], v[1], v[2]);
}

std::string day_label(std::int64_t days) {
  const Civil c = civil_from_days(days);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", c.y, c.m, c.d);
  return buf;
}

// The first day of the period holding `days`.
std::int64_t period_start(std::int64_t days, Granularity g) {
  switch (g) {
    case Granularity::kDay: return days;
    case Granularity::kWeek: return days - ((days % 7 + 7 + 3) % 7);  // 1970-01-01 was a Thursday
    case Granularity::kMonth: {
      const Civil c = civil_from_days(days);
      return days_from_civil(c.y, c.m, 1);
    }
    case Granularity::kYear: return days_from_civil(civil_from_days(days).y, 1, 1);
  }
  return days;
}

std::int64_t next_period(std::int64_t start, Granularity g) {
  switch (g) {
    case Granularity::kDay: return start + 1;
    case Granularity::kWeek: return start + 7;
    case Granularity::kMonth: {
      const Civil c = civil_from_days(start);
      return c.m == 12 ? days_from_civil(c.y + 1, 1, 1) : days_from_civil(c.y, c.m + 1, 1);
    }
    case Granularity::kYear: return days_from_civil(civil_from_days(start).y + 1, 1, 1);
  }
  return start + 1;
}

std::string period_label(std::int64_t start, Granularity g) {
  const std::string day = day_label(start);
  if (g == Granularity::kMonth) return day.substr(0, 7);
  if (g == Granularity::kYear) return day.substr(0, 4);
  return day;
}

std::size_t periods(std::int64_t first, std::int64_t last, Granularity g) {
  std::size_t n = 0;
  const std::size_t cap = kMaxMonthBuckets + 1;  // enough to tell "too many" for any granularity
  for (std::int64_t p = period_start(first, g); p <= last && n < cap; p = next_period(p, g)) ++n;
  return n;
}

}  // namespace

const char* granularity_name(Granularity g) noexcept {
  switch (g) {
    case Granularity::kDay: return "day";
    case Granularity::kWeek: return "week";
    case Granularity::kMonth: return "month";
    case Granularity::kYear: return "year";
  }
  return "day";
}

Timeline make_timeline(const Summary& s, std::string_view today) {
  Timeline t;
  struct Dated {
    std::int64_t days;
    const std::map<std::string, std::uint64_t>* kinds;
    std::uint64_t all, backscatter;
  };
  std::vector<Dated> dated;  // in day order: by_day is ordered by "YYYY-MM-DD"
  std::uint64_t total = 0;
  const std::optional<std::int64_t> now = parse_day(today);
  for (const auto& [day, kinds] : s.by_day) {
    const std::optional<std::int64_t> d = parse_day(day);
    if (!d) continue;
    std::uint64_t all = 0, bs = 0;
    for (const auto& [k, n] : kinds) {
      all += n;
      if (k != "none") bs += n;
    }
    if (now && *d > *now + kFutureSlackDays) {
      t.later += all;
      t.later_backscatter += bs;
      continue;
    }
    dated.push_back(Dated{*d, &kinds, all, bs});
    total += all;
  }
  if (dated.empty()) return t;
  // The finest granularity whose buckets cover [lo, hi], and their cap.
  auto choose = [](std::int64_t lo, std::int64_t hi) {
    for (auto [g, cap] : {std::pair{Granularity::kDay, kMaxDayBuckets}, std::pair{Granularity::kWeek, kMaxWeekBuckets},
                          std::pair{Granularity::kMonth, kMaxMonthBuckets}}) {
      if (periods(lo, hi, g) <= cap) return std::pair{g, cap};
    }
    return std::pair{Granularity::kYear, kMaxYearBuckets};
  };
  const std::int64_t hi = dated.back().days;
  // The earliest days holding at most the outlier share are set apart when
  // that gives finer buckets (a stray 1970 in a month of mail); otherwise
  // they are drawn like the rest.
  const std::uint64_t allowance = total * kEarlyOutlierPerMille / 1000;
  std::size_t first = 0;
  std::uint64_t cum = 0, cum_bs = 0;
  while (first + 1 < dated.size() && cum + dated[first].all <= allowance) {
    cum += dated[first].all;
    cum_bs += dated[first].backscatter;
    ++first;
  }
  auto [granularity, max_buckets] = choose(dated.front().days, hi);
  if (first > 0) {
    const auto trimmed = choose(dated[first].days, hi);
    if (trimmed.first < granularity) {
      std::tie(granularity, max_buckets) = trimmed;
      t.earlier = cum;
      t.earlier_backscatter = cum_bs;
    } else {
      first = 0;
    }
  }
  t.granularity = granularity;
  const std::int64_t lo = dated[first].days;
  for (std::int64_t p = period_start(lo, t.granularity); p <= hi && t.buckets.size() < max_buckets;
       p = next_period(p, t.granularity)) {
    t.buckets.push_back(PeriodBucket{period_label(p, t.granularity), 0, 0, {}});
  }
  std::size_t b = 0;
  std::int64_t bucket_end = next_period(period_start(lo, t.granularity), t.granularity);
  for (std::size_t i = first; i < dated.size(); ++i) {
    while (dated[i].days >= bucket_end && b + 1 < t.buckets.size()) {
      ++b;
      bucket_end = next_period(bucket_end, t.granularity);
    }
    PeriodBucket& pb = t.buckets[b];
    pb.all += dated[i].all;
    pb.backscatter += dated[i].backscatter;
    for (const auto& [k, n] : *dated[i].kinds) pb.by_kind[k] += n;
  }
  return t;
}

void Aggregator::add_error(const ErrorRecord& e) {
  if (e.file != last_file_) {
    ++s_.files;
    last_file_ = e.file;
  }
  ++s_.errors;
  ++s_.errors_by_code[e.code];
  if (s_.error_samples.size() < kMaxErrorSamples) s_.error_samples.push_back(e);
}

}  // namespace backstop::report
