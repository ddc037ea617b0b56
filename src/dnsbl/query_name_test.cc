#include "dnsbl/query_name.h"

#include <gtest/gtest.h>

namespace backstop::dnsbl {
namespace {

TEST(QueryName, Ipv4ReversesOctets) {
  auto q = query_name("192.0.2.10", "bl.example");
  ASSERT_TRUE(q) << q.error().to_string();
  EXPECT_EQ(*q, "10.2.0.192.bl.example");
  EXPECT_EQ(*query_name("127.0.0.2", "bl.example."), "2.0.0.127.bl.example");
}

TEST(QueryName, Ipv6NibblesPerRfc5782) {
  auto q = query_name("2001:db8:ffff::25", "bl.test");
  ASSERT_TRUE(q);
  EXPECT_EQ(*q, "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.f.f.f.f.8.b.d.0.1.0.0.2.bl.test");
  // RFC 5782 §2.4 example: 2001:db8:1:2:3:4:567:89ab.
  EXPECT_EQ(*query_name("2001:DB8:1:2:3:4:567:89AB", "ugly.example.com"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com");
}

TEST(QueryName, MappedIpv6IsQueriedAsIpv4) {
  EXPECT_EQ(*query_name("::ffff:192.0.2.1", "bl.example"), "1.2.0.192.bl.example");
  EXPECT_EQ(*query_name("[IPv6:::ffff:7f00:2]", "bl.example"), "2.0.0.127.bl.example");
}

TEST(QueryName, RejectsBadInput) {
  EXPECT_FALSE(query_name("192.0.2", "bl.example"));
  EXPECT_FALSE(query_name("192.0.2.256", "bl.example"));
  EXPECT_FALSE(query_name("example.com", "bl.example"));
  EXPECT_FALSE(query_name("", "bl.example"));
  EXPECT_FALSE(query_name("192.0.2.1", ""));
  EXPECT_FALSE(query_name("192.0.2.1", "bad..zone"));
  EXPECT_FALSE(query_name("192.0.2.1", "sp ace.example"));
  EXPECT_FALSE(query_name("192.0.2.1", std::string(64, 'a') + ".example"));
  EXPECT_FALSE(query_name("192.0.2.1", std::string(190, 'a')));  // + 64 bytes of nibbles > 253
}

}  // namespace
}  // namespace backstop::dnsbl
