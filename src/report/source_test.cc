#include "report/source.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace backstop::report {
namespace {

TEST(PublicIp, PrivateAndSpecialRangesAreNotPublic) {
  for (const char* ip : {"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "127.0.0.1",
                         "169.254.1.1", "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1",
                         "::ffff:10.0.0.1", "224.0.0.5", "not-an-ip", ""}) {
    EXPECT_FALSE(is_public_ip(ip)) << ip;
  }
  for (const char* ip : {"8.8.8.8", "172.32.0.1", "2a00:1450:4001::1", "[93.184.216.34]",
                         "IPv6:2a00:1450:4001::1"}) {
    EXPECT_TRUE(is_public_ip(ip)) << ip;
  }
}

TEST(Trusted, MatchesCidrsAndRejectsGarbage) {
  Trusted t;
  ASSERT_TRUE(t.add("81.2.69.0/24").has_value());
  ASSERT_TRUE(t.add("2a02:898::/32").has_value());
  EXPECT_TRUE(t.contains("81.2.69.142"));
  EXPECT_FALSE(t.contains("81.2.70.1"));
  EXPECT_TRUE(t.contains("2a02:898:0:20::1"));
  EXPECT_FALSE(t.add("81.2.69.0/33").has_value());
  EXPECT_FALSE(t.add("example.org").has_value());
}

TEST(FirstExternalHop, SkipsPrivateAndTrustedHops) {
  std::vector<std::string_view> chain = {
      "from mx1.example.org (mx1.example.org [10.0.0.5]) by mail.example.org (Postfix) with ESMTP "
      "id 1; Tue, 1 Jul 2003 10:52:40 +0200",
      "from gw.example.org (gw.example.org [81.2.69.10]) by mx1.example.org (Postfix) with ESMTP "
      "id 2; Tue, 1 Jul 2003 10:52:39 +0200",
      "from bouncer.example.net (bounce-host.example.net [81.2.70.160]) by gw.example.org "
      "(Postfix) with ESMTP id 3; Tue, 1 Jul 2003 10:52:38 +0200",
  };
  EXPECT_EQ(first_external_hop(chain, Trusted{}).ip, "81.2.69.10");
  Trusted t;
  ASSERT_TRUE(t.add("81.2.69.0/24").has_value());
  Hop hop = first_external_hop(chain, t);
  EXPECT_EQ(hop.ip, "81.2.70.160");
  EXPECT_EQ(hop.host, "bounce-host.example.net");
  EXPECT_TRUE(first_external_hop({}, t).ip.empty());
}

}  // namespace
}  // namespace backstop::report
