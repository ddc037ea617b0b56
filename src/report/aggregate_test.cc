#include "report/aggregate.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace backstop::report {
namespace {

MessageRecord rec(std::string file, std::string kind, std::string day = "2024-01-02") {
  MessageRecord r;
  r.file = std::move(file);
  r.kind = std::move(kind);
  r.day = std::move(day);
  r.size = 100;
  return r;
}

TEST(Aggregate, CountsKindsDaysAndTops) {
  Aggregator a;
  auto b1 = rec("a.mbox", "bounce");
  b1.source_ip = "192.0.2.10";  // documentation range is fine here: no filtering in aggregation
  b1.source_host = "mx.example";
  b1.local_recipients = {"alice@example.org"};
  b1.refs.original_sender = "alice@example.org";
  auto b2 = b1;
  b2.index = 1;
  b2.refs.original_sender.clear();
  b2.refs.from = "bob@example.org";
  a.add(b1);
  a.add(b2);
  a.add(rec("a.mbox", "none"));
  a.add(rec("b.eml", "autoreply", ""));
  a.add_error(ErrorRecord{"c.bin", 0, "malformed", "no header section"});
  const Summary& s = a.summary();
  EXPECT_EQ(s.messages, 4u);
  EXPECT_EQ(s.backscatter, 3u);
  EXPECT_EQ(s.errors, 1u);
  EXPECT_EQ(s.files, 3u);
  EXPECT_EQ(s.bytes, 400u);
  EXPECT_EQ(s.by_kind.at("bounce"), 2u);
  EXPECT_EQ(s.by_kind.at("challenge"), 0u);
  EXPECT_EQ(s.by_day.at("2024-01-02").at("bounce"), 2u);
  EXPECT_EQ(s.by_day.at("2024-01-02").at("none"), 1u);
  EXPECT_EQ(s.undated, 1u);
  auto src = s.sources.top(5);
  ASSERT_EQ(src.size(), 1u);
  EXPECT_EQ(src[0].first, "192.0.2.10 (mx.example)");
  EXPECT_EQ(src[0].second, 2u);
  auto forged = s.forged_senders.top(5);
  ASSERT_EQ(forged.size(), 2u);
  EXPECT_EQ(forged[0].first, "alice@example.org");
  EXPECT_EQ(s.recipients.top(1)[0].second, 2u);
  EXPECT_EQ(s.errors_by_code.at("malformed"), 1u);
}

Summary days(const std::vector<std::pair<std::string, std::string>>& day_kind) {
  Aggregator a;
  for (const auto& [d, k] : day_kind) a.add(rec("a.mbox", k, d));
  return a.summary();
}

TEST(Timeline, GranularityFollowsTheSpan) {
  // A month of days: per day, empty days included.
  Timeline t = make_timeline(days({{"2024-05-01", "bounce"}, {"2024-05-31", "none"}}));
  EXPECT_EQ(t.granularity, Granularity::kDay);
  ASSERT_EQ(t.buckets.size(), 31u);
  EXPECT_EQ(t.buckets[0].label, "2024-05-01");
  EXPECT_EQ(t.buckets[0].backscatter, 1u);
  EXPECT_EQ(t.buckets[30].all, 1u);
  // A year: per week, labelled by the Monday.
  t = make_timeline(days({{"2023-01-04", "bounce"}, {"2023-12-31", "none"}}));
  EXPECT_EQ(t.granularity, Granularity::kWeek);
  EXPECT_EQ(t.buckets.front().label, "2023-01-02");
  EXPECT_EQ(t.buckets.back().label, "2023-12-25");
  EXPECT_LE(t.buckets.size(), kMaxWeekBuckets);
  // 25 years: per month, not 9,000 days.
  t = make_timeline(days({{"2000-01-01", "none"}, {"2024-12-31", "autoreply"}}));
  EXPECT_EQ(t.granularity, Granularity::kMonth);
  EXPECT_EQ(t.buckets.size(), 300u);
  EXPECT_EQ(t.buckets.back().label, "2024-12");
  EXPECT_EQ(t.buckets.back().by_kind.at("autoreply"), 1u);
  // The whole range dates can have: per year.
  t = make_timeline(days({{"1970-01-01", "none"}, {"2199-12-31", "none"}}));
  EXPECT_EQ(t.granularity, Granularity::kYear);
  EXPECT_EQ(t.buckets.size(), 230u);
}

TEST(Timeline, HostileDatesDoNotWidenTheChart) {
  // 1,000 messages in one week, plus stray dates: broken clocks and forgeries.
  std::vector<std::pair<std::string, std::string>> in;
  for (int i = 0; i < 1000; ++i) in.emplace_back("2024-05-0" + std::to_string(1 + i % 7), i % 10 ? "none" : "bounce");
  in.emplace_back("1970-01-01", "bounce");
  in.emplace_back("0000-01-01", "none");
  in.emplace_back("9999-12-31", "bounce");
  in.emplace_back("2199-12-31", "none");
  in.emplace_back("2024-13-45", "none");   // not a day: left out
  in.emplace_back("garbage", "none");
  const Timeline t = make_timeline(days(in), "2024-05-08");
  EXPECT_EQ(t.granularity, Granularity::kDay);
  EXPECT_EQ(t.buckets.size(), 7u);
  EXPECT_EQ(t.earlier, 2u);  // 0000 and 1970: under 0.5% of the dated messages
  EXPECT_EQ(t.earlier_backscatter, 1u);
  EXPECT_EQ(t.later, 2u);  // 2199 and 9999: after the scan
  EXPECT_EQ(t.later_backscatter, 1u);
  // Without a scan date the far future stretches the span, but the buckets stay bounded.
  const Timeline u = make_timeline(days(in));
  EXPECT_EQ(u.granularity, Granularity::kYear);
  EXPECT_LE(u.buckets.size(), kMaxYearBuckets);
  std::uint64_t all = u.earlier + u.later;
  for (const PeriodBucket& b : u.buckets) all += b.all;
  EXPECT_EQ(all, 1004u);  // every dated message counted once
}

TEST(Timeline, NothingDated) {
  const Timeline t = make_timeline(days({{"", "bounce"}}));
  EXPECT_TRUE(t.buckets.empty());
  EXPECT_EQ(t.earlier + t.later, 0u);
}

TEST(TopCounter, BoundedDistinctKeys) {
  TopCounter c;
  for (std::size_t i = 0; i < kMaxDistinct + 10; ++i) c.add("k" + std::to_string(i));
  c.add("k0", 100);
  EXPECT_EQ(c.distinct(), kMaxDistinct);
  auto top = c.top(2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].first, "k0");
  EXPECT_EQ(top[0].second, 101u);
  EXPECT_EQ(top[1].first, "(other)");
  EXPECT_EQ(top[1].second, 10u);
}

}  // namespace
}  // namespace backstop::report
