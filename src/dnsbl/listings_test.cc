#include "dnsbl/listings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace backstop::dnsbl {
namespace {

constexpr std::int64_t kT0 = 1'790'000'000;

class ListingsTest : public ::testing::Test {
 protected:
  ListingsTest() : store_(store::make_memory_store({&clock})) {}
  Listings make(ListingPolicy p = {}) {
    return Listings(*store_, clock, p, [this](std::string_view line) { log.emplace_back(line); });
  }
  static store::Evidence ev(std::string kind, std::string mid = "m@x") { return {kind, mid, 0}; }

  ManualClock clock{kT0};
  std::unique_ptr<store::Store> store_;
  std::vector<std::string> log;
};

TEST_F(ListingsTest, OneHitListsByDefaultAndExpiresAfterQuietDays) {
  auto l = make();
  auto hit = l.record_hit("192.0.2.10", ev("bounce"));
  ASSERT_TRUE(hit) << hit.error().to_string();
  EXPECT_EQ(hit->hits.at("bounce"), 1u);
  EXPECT_EQ(hit->first_seen, kT0);
  ASSERT_EQ(l.active()->size(), 1u);
  EXPECT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("listed 192.0.2.10"), std::string::npos);
  clock.advance(27 * 86400);
  EXPECT_EQ(l.active()->size(), 1u);
  // A new hit renews the listing.
  ASSERT_TRUE(l.record_hit("192.0.2.10", ev("autoreply")));
  clock.advance(27 * 86400);
  EXPECT_EQ(l.active()->size(), 1u);
  clock.advance(86400);
  EXPECT_TRUE(l.active()->empty());
  auto got = l.get("192.0.2.10");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(listing_state(**got, l.policy(), l.now()), ListingState::kExpired);
}

TEST_F(ListingsTest, ThresholdNeedsThatManyHits) {
  auto l = make({3, 28});
  l.record_hit("2001:db8::7", ev("bounce")).value();
  l.record_hit("2001:db8::7", ev("bounce")).value();
  EXPECT_TRUE(l.active()->empty());
  auto third = l.record_hit("2001:DB8:0::7", ev("virus_notice"));
  ASSERT_TRUE(third);
  EXPECT_EQ(third->ip, "2001:db8::7");
  EXPECT_EQ(third->total_hits(), 3u);
  EXPECT_EQ(l.active()->size(), 1u);
}

TEST_F(ListingsTest, MappedAddressesFoldToIpv4) {
  auto l = make();
  ASSERT_TRUE(l.record_hit("::ffff:198.51.100.4", ev("bounce")));
  auto got = l.get("198.51.100.4");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->ip, "198.51.100.4");
  EXPECT_FALSE(l.record_hit("not-an-ip", ev("bounce")));
}

TEST_F(ListingsTest, SelfServiceDelistingsEscalateTheNextListing) {
  auto l = make();
  ASSERT_TRUE(l.record_hit("192.0.2.20", ev("bounce")));
  EXPECT_EQ(expires_at(**l.get("192.0.2.20"), l.policy()), kT0 + 28 * 86400);
  // The operator's delisting does not escalate.
  ASSERT_TRUE(*l.delist("192.0.2.20", "operator"));
  ASSERT_TRUE(l.record_hit("192.0.2.20", ev("bounce")));
  EXPECT_EQ(expires_at(**l.get("192.0.2.20"), l.policy()), kT0 + 28 * 86400);
  // Each self-service delisting doubles the next listing, up to 8x.
  const std::int64_t want[] = {56, 112, 224, 224};
  for (std::int64_t days : want) {
    ASSERT_TRUE(*l.delist("192.0.2.20", "web form", DelistBy::kSelfService));
    EXPECT_TRUE(l.active()->empty()) << "delisted at once";
    ASSERT_TRUE(l.record_hit("192.0.2.20", ev("bounce")));
    auto got = **l.get("192.0.2.20");
    EXPECT_EQ(expires_at(got, l.policy()), kT0 + days * 86400) << days;
    EXPECT_EQ(listing_state(got, l.policy(), kT0 + (days - 1) * 86400), ListingState::kActive);
    EXPECT_EQ(listing_state(got, l.policy(), kT0 + days * 86400), ListingState::kExpired);
  }
  EXPECT_EQ((**l.get("192.0.2.20")).self_delists, 4u);
  EXPECT_NE(log.back().find("listed 192.0.2.20"), std::string::npos);
  bool logged = false;
  for (const auto& line : log) logged = logged || line.find("self-service delisted 192.0.2.20 (web form)") == 0;
  EXPECT_TRUE(logged);
  EXPECT_EQ(longest_listing_seconds(l.policy()), 224 * 86400);
}

TEST_F(ListingsTest, PurgeRemovesTheEvidenceWithTheListing) {
  auto l = make();
  ASSERT_TRUE(l.record_hit("192.0.2.21", ev("bounce")));
  ASSERT_TRUE(store_->record_put(std::string(kEvidenceKeyPrefix) + "192.0.2.21", "x", 0));
  clock.advance(40 * 86400);
  EXPECT_EQ(*l.purge(10), 1u);
  EXPECT_FALSE(store_->record_get(std::string(kEvidenceKeyPrefix) + "192.0.2.21")->has_value());
}

TEST_F(ListingsTest, DelistIsImmediateAndLogged) {
  auto l = make();
  l.record_hit("192.0.2.10", ev("bounce")).value();
  auto d = l.delist("192.0.2.10", "operator fixed the bounce\nconfig");
  ASSERT_TRUE(d);
  EXPECT_TRUE(*d);
  EXPECT_TRUE(l.active()->empty());
  EXPECT_NE(log.back().find("delisted 192.0.2.10 (operator fixed the bounce config)"), std::string::npos);
  auto rec = store_->record_get("dnsbl:delist:192.0.2.10");
  ASSERT_TRUE(rec && *rec);
  EXPECT_EQ(**rec, std::to_string(kT0) + " operator fixed the bounce config");
  EXPECT_FALSE(*l.delist("192.0.2.99", ""));
  // A new hit lists again.
  l.record_hit("192.0.2.10", ev("bounce")).value();
  EXPECT_EQ(l.active()->size(), 1u);
}

TEST_F(ListingsTest, AllowlistedNetworksAreNeverListed) {
  auto l = make();
  l.record_hit("192.0.2.10", ev("bounce")).value();
  l.record_hit("192.0.3.10", ev("bounce")).value();
  auto n = l.allow("192.0.2.0/24");
  ASSERT_TRUE(n) << n.error().to_string();
  EXPECT_EQ(*n, 1u);
  ASSERT_EQ(l.active()->size(), 1u);
  EXPECT_EQ(l.active()->front().ip, "192.0.3.10");
  l.record_hit("192.0.2.77", ev("bounce")).value();
  l.record_hit("192.0.2.10", ev("bounce")).value();
  EXPECT_EQ(l.active()->size(), 1u);
  EXPECT_FALSE(l.allow("192.0.2.0/99"));
}

TEST_F(ListingsTest, PurgeRemovesLongExpiredListings) {
  auto l = make();
  l.record_hit("192.0.2.10", ev("bounce")).value();
  clock.advance(28 * 86400 + 10 * 86400);
  l.record_hit("192.0.2.11", ev("bounce")).value();
  EXPECT_EQ(*l.purge(30), 0u);
  clock.advance(20 * 86400);
  EXPECT_EQ(*l.purge(30), 1u);
  EXPECT_EQ(l.all()->size(), 1u);
}

}  // namespace
}  // namespace backstop::dnsbl
