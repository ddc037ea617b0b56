#include "outbound/counting.h"

#include <gtest/gtest.h>

#include <string>

namespace backstop::outbound {
namespace {

TEST(Window, ParsesUnitsAndRefusesNonsense) {
  auto w = parse_window("100/1h");
  ASSERT_TRUE(w) << w.error().to_string();
  EXPECT_EQ(w->limit, 100);
  EXPECT_EQ(w->seconds, 3600);
  EXPECT_EQ(parse_window("5/30s")->seconds, 30);
  EXPECT_EQ(parse_window("5/90m")->seconds, 5400);
  EXPECT_EQ(parse_window("5/31d")->seconds, 31 * 86400);
  for (const char* bad : {"", "100", "/1h", "0/1h", "-1/1h", "1/0s", "1/1w", "1/32d", "1/h", "x/1h",
                          "99999999999/1h", "1/1hh", "1 /1h"}) {
    EXPECT_FALSE(parse_window(bad)) << bad;
  }
  auto list = parse_windows("10/1m, 100/1h 1000/1d");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[2].text, "1000/1d");
  EXPECT_TRUE(parse_windows("")->empty());
  EXPECT_FALSE(parse_windows("1/1s,2/2s,3/3s,4/4s,5/5s")) << "more than kMaxWindows";
}

TEST(SlidingCount, NeverMoreThanTheWindowAllows) {
  // A 60 s window moves in 6 s steps: an event counts for 60 to 66 seconds.
  SlidingCount c;
  const std::int64_t t0 = 1'800'000'000;
  c.add(t0, 60, 3);
  EXPECT_EQ(c.total(t0, 60), 3);
  EXPECT_EQ(c.total(t0 + 59, 60), 3);
  EXPECT_EQ(c.total(t0 + 60, 60), 3) << "still inside the window + one step";
  EXPECT_EQ(c.total(t0 + 67, 60), 0);
  // Round trip through bytes, and damaged bytes read as empty.
  c.add(t0 + 30, 60, 2);
  auto d = SlidingCount::decode(c.encode());
  EXPECT_EQ(d.total(t0 + 30, 60), 5);
  for (std::string bad : {std::string(), std::string("c"), std::string("c\x05", 2), std::string("x\x00", 2),
                          c.encode().substr(0, 10), c.encode() + "z"}) {
    EXPECT_EQ(SlidingCount::decode(bad).total(t0 + 30, 60), 0);
  }
  // Old steps are forgotten, so the state stays small.
  SlidingCount s;
  for (std::int64_t t = 0; t < 100000; t += 7) s.add(t0 + t, 60, 1);
  EXPECT_LE(s.encode().size(), 2u + 16u * (kSlots + 1));
}

TEST(SlidingCount, AnyIntervalOfTheWindowHoldsAtMostTheLimit) {
  // Admit greedily against a limit of 10 per 100 s, one attempt per second;
  // then check every interval of 100 s.
  SlidingCount c;
  std::vector<std::int64_t> admitted;
  for (std::int64_t t = 0; t < 1000; ++t) {
    if (c.total(t, 100) + 1 <= 10) {
      c.add(t, 100, 1);
      admitted.push_back(t);
    }
  }
  for (std::int64_t start = 0; start < 1000; ++start) {
    int n = 0;
    for (auto t : admitted) n += t >= start && t < start + 100;
    EXPECT_LE(n, 10) << "interval at " << start;
  }
  EXPECT_GE(admitted.size(), 80u) << "and not much stricter than asked";
}

TEST(Sketch, ExactThenHyperLogLogWithinItsError) {
  Sketch s;
  for (int i = 0; i < 100; ++i) s.add(hash64("sender" + std::to_string(i % 50) + "@x"));
  EXPECT_TRUE(s.exact());
  EXPECT_EQ(s.count(), 50);
  EXPECT_TRUE(s.contains(hash64("sender7@x")));
  for (int n : {1000, 10000, 100000}) {
    Sketch big;
    for (int i = 0; i < n; ++i) big.add(hash64("a" + std::to_string(i) + "@example.org"));
    EXPECT_FALSE(big.exact());
    const double err = std::abs(static_cast<double>(big.count() - n)) / n;
    EXPECT_LT(err, 3 * 0.0325) << n << " counted as " << big.count();  // 3 standard errors
  }
}

TEST(SlidingDistinct, CountsDistinctValuesAndForgetsOldOnes) {
  SlidingDistinct d;
  const std::int64_t t0 = 1'800'000'000;
  for (int i = 0; i < 30; ++i) d.add(t0 + i, 3600, hash64("s" + std::to_string(i % 10)));
  EXPECT_EQ(d.live(t0 + 30, 3600).count(), 10);
  auto r = SlidingDistinct::decode(d.encode());
  EXPECT_EQ(r.live(t0 + 30, 3600).count(), 10);
  EXPECT_EQ(r.live(t0 + 3600 + 901, 3600).count(), 0) << "past the window and its step";
  // Past the exact capacity the union is a sketch.
  for (int i = 0; i < 500; ++i) d.add(t0 + 40, 3600, hash64("m" + std::to_string(i)));
  auto n = d.live(t0 + 40, 3600).count();
  EXPECT_NEAR(static_cast<double>(n), 510.0, 510 * 0.1);
  auto again = SlidingDistinct::decode(d.encode());
  EXPECT_EQ(again.live(t0 + 40, 3600).count(), n);
  // Damage reads as empty, never as garbage.
  std::string bytes = d.encode();
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{5}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_EQ(SlidingDistinct::decode(bytes.substr(0, cut)).live(t0 + 40, 3600).count(), 0) << cut;
  }
  std::string bad_register = bytes;
  bad_register.back() = static_cast<char>(200);
  EXPECT_EQ(SlidingDistinct::decode(bad_register).live(t0 + 40, 3600).count(), 0);
}

}  // namespace
}  // namespace backstop::outbound
