#include "report/aggregate.h"

#include <gtest/gtest.h>

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
