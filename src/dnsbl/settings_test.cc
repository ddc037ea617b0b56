#include "dnsbl/settings.h"

#include <gtest/gtest.h>

namespace backstop::dnsbl {
namespace {

TEST(Settings, DefaultsAreSafe) {
  auto s = dnsbl_settings(config::Config::defaults());
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_TRUE(s->client.safe_mode);
  EXPECT_TRUE(s->client.zones.empty());
  EXPECT_EQ(s->resolver.server, "");
  EXPECT_EQ(s->resolver.timeout.count(), 1500);
  auto p = listing_policy(config::Config::defaults());
  EXPECT_EQ(p.threshold, 1u);
  EXPECT_EQ(p.expire_days, 28);
}

TEST(Settings, ZonesResolverAndRelays) {
  auto cfg = config::Config::parse(R"(
relays.ours = ["mx.example.org", "10.0.0.0/8", "2001:db8::/32"]
[dnsbl]
safe_mode = false
resolver = "127.0.0.1:5353"
timeout_ms = 300
[[dnsbl.zones]]
zone = "ips.backscatterer.org"
action = "reject"
codes = "127.0.0.2=backscatter, 127.0.0.3"
message = "Backscatter source: %txt%"
[[dnsbl.zones]]
zone = "bl.example.net"
action = "tag"
)");
  ASSERT_TRUE(cfg) << cfg.error().to_string();
  auto s = dnsbl_settings(*cfg);
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_FALSE(s->client.safe_mode);
  EXPECT_EQ(s->resolver.server, "127.0.0.1");
  EXPECT_EQ(s->resolver.port, 5353);
  EXPECT_EQ(s->resolver.timeout.count(), 300);
  ASSERT_EQ(s->client.zones.size(), 2u);
  EXPECT_EQ(s->client.zones[0].codes.at("127.0.0.2"), "backscatter");
  EXPECT_EQ(s->client.zones[0].codes.at("127.0.0.3"), "listed");
  EXPECT_EQ(s->client.zones[0].message, "Backscatter source: %txt%");
  EXPECT_EQ(s->client.zones[1].action, Action::kTag);
  EXPECT_EQ(relay_networks(*cfg).size(), 2u);
}

TEST(Settings, BadValuesNameTheKey) {
  auto bad_code = config::Config::parse("[[dnsbl.zones]]\nzone = \"bl.test\"\ncodes = \"10.0.0.2\"\n");
  ASSERT_TRUE(bad_code);
  auto s = dnsbl_settings(*bad_code);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("dnsbl.zones"), std::string::npos);
  auto bad_zone = config::Config::parse("[[dnsbl.zones]]\nzone = \"bad zone\"\n");
  ASSERT_TRUE(bad_zone);
  EXPECT_FALSE(dnsbl_settings(*bad_zone));
  CaresOptions o;
  EXPECT_TRUE(parse_resolver("[::1]:5300", &o));
  EXPECT_EQ(o.server, "::1");
  EXPECT_EQ(o.port, 5300);
  EXPECT_TRUE(parse_resolver("::1", &o));
  EXPECT_EQ(o.server, "::1");
  EXPECT_EQ(o.port, 53);
  EXPECT_FALSE(parse_resolver("dns.example:53", &o));
  EXPECT_FALSE(parse_resolver("127.0.0.1:99999", &o));
}

}  // namespace
}  // namespace backstop::dnsbl
