#include "dnsbl/cache.h"

#include <gtest/gtest.h>

namespace backstop::dnsbl {
namespace {

ZoneResult result(LookupStatus s) {
  ZoneResult r;
  r.zone = "bl.test";
  r.status = s;
  return r;
}

TEST(LookupCache, ExpiresAfterTtl) {
  ManualClock clock(1'700'000'000);
  LookupCache cache(clock, 10);
  cache.put("a", result(LookupStatus::kListed), 60);
  auto hit = cache.get("a");
  ASSERT_TRUE(hit);
  EXPECT_TRUE(hit->from_cache);
  clock.advance(59);
  EXPECT_TRUE(cache.get("a"));
  clock.advance(1);
  EXPECT_FALSE(cache.get("a"));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(LookupCache, CapsTtlAndSkipsErrorsAndZeroTtl) {
  ManualClock clock;
  LookupCache cache(clock, 10);
  cache.put("long", result(LookupStatus::kNotListed), 86400);
  cache.put("err", result(LookupStatus::kError), 600);
  cache.put("zero", result(LookupStatus::kListed), 0);
  EXPECT_FALSE(cache.get("err"));
  EXPECT_FALSE(cache.get("zero"));
  clock.advance(kMaxCacheTtlSeconds - 1);
  EXPECT_TRUE(cache.get("long"));
  clock.advance(1);
  EXPECT_FALSE(cache.get("long"));
}

TEST(LookupCache, EvictsLeastRecentlyUsedAtTheBound) {
  ManualClock clock;
  LookupCache cache(clock, 3);
  cache.put("a", result(LookupStatus::kListed), 100);
  cache.put("b", result(LookupStatus::kListed), 100);
  cache.put("c", result(LookupStatus::kListed), 100);
  ASSERT_TRUE(cache.get("a"));  // a is now the most recent
  cache.put("d", result(LookupStatus::kListed), 100);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.get("b"));
  EXPECT_TRUE(cache.get("a"));
  EXPECT_TRUE(cache.get("c"));
  EXPECT_TRUE(cache.get("d"));
  for (int i = 0; i < 100; ++i) cache.put("k" + std::to_string(i), result(LookupStatus::kListed), 100);
  EXPECT_EQ(cache.size(), 3u);
}

}  // namespace
}  // namespace backstop::dnsbl
