#include "store/ip.h"

#include <gtest/gtest.h>

namespace backstop::store {
namespace {

TEST(Ip, Canonical) {
  EXPECT_EQ(*canonical_ip("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(*canonical_ip("2001:0DB8:0000::0001"), "2001:db8::1");
  EXPECT_EQ(*canonical_ip("::ffff:192.0.2.1"), "192.0.2.1") << "one listing whatever form the MTA reports";
  EXPECT_FALSE(canonical_ip("192.0.2.256"));
  EXPECT_FALSE(canonical_ip(""));
  EXPECT_FALSE(canonical_ip(std::string(100, '1')));
  EXPECT_FALSE(canonical_ip(std::string("1.2.3.4\0", 8)));
}

TEST(Ip, CidrParseAndContains) {
  auto c = parse_cidr("10.1.2.3/8");
  ASSERT_TRUE(c);
  EXPECT_EQ(format_cidr(*c), "10.0.0.0/8");
  EXPECT_TRUE(cidr_contains(*c, *parse_ip("10.255.0.1")));
  EXPECT_FALSE(cidr_contains(*c, *parse_ip("11.0.0.1")));
  EXPECT_TRUE(cidr_contains(*c, *parse_ip("::ffff:10.0.0.1"))) << "IPv4-mapped IPv6 is the IPv4 address";
  EXPECT_FALSE(cidr_contains(*c, *parse_ip("2001:db8::a00:1"))) << "other IPv6 never matches IPv4";
  auto all = parse_cidr("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(cidr_contains(*all, *parse_ip("203.0.113.9")));
  auto v6 = parse_cidr("2001:db8::/127");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(cidr_contains(*v6, *parse_ip("2001:db8::1")));
  EXPECT_FALSE(cidr_contains(*v6, *parse_ip("2001:db8::2")));
  EXPECT_FALSE(parse_cidr("10.0.0.0/"));
  EXPECT_FALSE(parse_cidr("10.0.0.0/x"));
  EXPECT_FALSE(parse_cidr("2001:db8::/129"));
  EXPECT_EQ(format_cidr(*parse_cidr("2001:db8::1")), "2001:db8::1/128");
}

}  // namespace
}  // namespace backstop::store
