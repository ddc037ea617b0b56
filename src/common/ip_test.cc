#include "common/ip.h"

#include <gtest/gtest.h>

#include <string>

namespace backstop::ip {
namespace {

TEST(Ip, ParsesForms) {
  struct Case { const char* in; const char* out; bool v6; };
  const Case cases[] = {
      {"192.0.2.1", "192.0.2.1", false},
      {"[192.0.2.1]", "192.0.2.1", false},
      {"2001:DB8::1", "2001:db8::1", true},
      {"[IPv6:2001:db8::1]", "2001:db8::1", true},
      {"IPv6:::1", "::1", true},
      {"::ffff:198.51.100.7", "198.51.100.7", false},  // mapped folds to IPv4
      {"::FFFF:c633:6407", "198.51.100.7", false},     // mapped, hex spelling
      {"[IPv6:::ffff:198.51.100.7]", "198.51.100.7", false},
      {"ipv6:2001:db8::1", "2001:db8::1", true},
      {"::198.51.100.7", "::198.51.100.7", true},  // IPv4-compatible is plain IPv6
      {"2001:0DB8:0000::0001", "2001:db8::1", true},
  };
  for (const auto& c : cases) {
    auto a = parse(c.in);
    ASSERT_TRUE(a) << c.in;
    EXPECT_EQ(to_string(*a), c.out);
    EXPECT_EQ(a->v6, c.v6);
  }
}

TEST(Ip, RejectsGarbage) {
  for (const char* bad : {"", "[]", "IPv6:", "[IPv6:]", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4",
                          "host.example", "[1.2.3.4", "1.2.3.4]", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n",
                          "::g", "1::2::3", "IPv4:1.2.3.4", "[[1.2.3.4]]", "1.2.3.4/32", "\xff\xfe",
                          "01234567890123456789012345678901234567890123456789"
                          "0123456789012345"}) {
    auto a = parse(bad);
    ASSERT_FALSE(a) << bad;
    EXPECT_EQ(a.error().code(), Code::kInvalidArgument);
  }
  EXPECT_FALSE(parse(std::string("1.2.3.4\0", 8))) << "NUL ends nothing";
  EXPECT_FALSE(parse(std::string("1.2.3.4\0junk", 12)));
  EXPECT_FALSE(parse(std::string(kMaxIpText + 1, '1')));
  EXPECT_FALSE(parse(std::string(100000, ':')));
  // Refused text is quoted in the message, control bytes escaped.
  EXPECT_NE(parse("bad\x01").error().message().find("\"bad\\u0001\""), std::string::npos);
}

TEST(Ip, Canonical) {
  EXPECT_EQ(*canonical("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(*canonical("2001:0DB8:0000::0001"), "2001:db8::1");
  EXPECT_EQ(*canonical("::ffff:192.0.2.1"), "192.0.2.1") << "one listing whatever form the MTA reports";
  EXPECT_EQ(*canonical("[192.0.2.1]"), "192.0.2.1");
  EXPECT_FALSE(canonical("192.0.2.256"));
  EXPECT_FALSE(canonical(""));
}

TEST(Ip, Networks) {
  struct Case { const char* in; const char* out; const char* inside; const char* outside; };
  for (const Case& c : {Case{"192.0.2.77/24", "192.0.2.0/24", "192.0.2.200", "192.0.3.1"},
                        Case{"10.0.0.0/9", "10.0.0.0/9", "10.127.255.255", "10.128.0.0"},
                        Case{"2001:db8::/32", "2001:db8::/32", "2001:db8:ffff::1", "2001:db9::1"},
                        Case{"2001:db8::/33", "2001:db8::/33", "2001:db8:7fff::1", "2001:db8:8000::1"},
                        Case{"198.51.100.1", "198.51.100.1/32", "198.51.100.1", "198.51.100.2"},
                        Case{"2001:db8::1", "2001:db8::1/128", "2001:db8::1", "2001:db8::2"},
                        Case{"0.0.0.0/0", "0.0.0.0/0", "203.0.113.9", "2001:db8::1"},
                        Case{"::/0", "::/0", "2001:db8::1", "203.0.113.9"}}) {
    auto n = parse_network(c.in);
    ASSERT_TRUE(n) << c.in;
    EXPECT_EQ(to_string(*n), c.out);
    EXPECT_TRUE(contains(*n, *parse(c.inside))) << c.in;
    EXPECT_FALSE(contains(*n, *parse(c.outside))) << c.in;
  }
  EXPECT_FALSE(contains(*parse_network("192.0.2.0/24"), *parse("2001:db8::1")));
}

TEST(Ip, NetworksRejectHostileText) {
  for (const char* bad : {"", "/", "/24", "192.0.2.0/33", "192.0.2.0/", "192.0.2.0/-1", "192.0.2.0/-0",
                          "192.0.2.0/+8", "192.0.2.0/ 8", "192.0.2.0/8 ", "192.0.2.0 /8", "192.0.2.0/8/8",
                          "192.0.2.0/0x8", "192.0.2.0/99999999999999999999", "x/8", "::/129",
                          "1.2.3.4/8x", "2001:db8::/", "[2001:db8::/32]"}) {
    auto n = parse_network(bad);
    ASSERT_FALSE(n) << bad;
    EXPECT_EQ(n.error().code(), Code::kInvalidArgument);
  }
  EXPECT_FALSE(parse_network(std::string("10.0.0.0/8\0", 11)));
  EXPECT_FALSE(parse_network(std::string("10.0.0.0\0/8", 11)));
  EXPECT_FALSE(parse_network("192.0.2.0/" + std::string(100, '0') + "24")) << "overlong";
  EXPECT_FALSE(parse_network(std::string(100000, '1') + "/8"));
}

TEST(Ip, MappedNetworksAreTheIpv4Network) {
  // Both spellings of a network are the same Network.
  struct Case { const char* mapped; const char* v4; };
  for (const Case& c : {Case{"::ffff:192.0.2.0/120", "192.0.2.0/24"}, Case{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
                        Case{"::ffff:0:0/96", "0.0.0.0/0"}, Case{"::ffff:192.0.2.1/128", "192.0.2.1/32"},
                        Case{"::ffff:192.0.2.1", "192.0.2.1/32"}, Case{"[::ffff:192.0.2.77]/121", "192.0.2.0/25"},
                        Case{"::FFFF:C000:0200/120", "192.0.2.0/24"}}) {
    auto m = parse_network(c.mapped);
    ASSERT_TRUE(m) << c.mapped << ": " << m.error().to_string();
    EXPECT_EQ(*m, *parse_network(c.v4)) << c.mapped;
    EXPECT_EQ(to_string(*m), c.v4);
    EXPECT_FALSE(m->base.v6);
  }
  // A mapped prefix shorter than 96 would span IPv4 and other IPv6 at once.
  for (const char* bad : {"::ffff:192.0.2.0/95", "::ffff:192.0.2.0/64", "::ffff:0:0/0", "::ffff:192.0.2.0/129"}) {
    auto n = parse_network(bad);
    ASSERT_FALSE(n) << bad;
    EXPECT_EQ(n.error().code(), Code::kInvalidArgument);
  }
  EXPECT_NE(parse_network("::ffff:192.0.2.0/95").error().message().find("96..128"), std::string::npos);
  // An IPv4 spelling keeps IPv4 prefix lengths.
  EXPECT_FALSE(parse_network("192.0.2.0/120"));
}

TEST(Ip, MappedClientsMatchIpv4NetworksAndBack) {
  const auto v4_net = *parse_network("192.0.2.0/24");
  const auto mapped_net = *parse_network("::ffff:192.0.2.0/120");
  for (const char* client : {"192.0.2.1", "::ffff:192.0.2.1", "[IPv6:::ffff:192.0.2.1]", "::ffff:c000:2fe"}) {
    auto a = parse(client);
    ASSERT_TRUE(a) << client;
    EXPECT_TRUE(contains(v4_net, *a)) << client;
    EXPECT_TRUE(contains(mapped_net, *a)) << client;
  }
  for (const char* outside : {"192.0.3.1", "::ffff:192.0.3.1", "2001:db8::c000:201", "::c000:201", "::1"}) {
    auto a = parse(outside);
    ASSERT_TRUE(a) << outside;
    EXPECT_FALSE(contains(v4_net, *a)) << outside;
    EXPECT_FALSE(contains(mapped_net, *a)) << outside;
  }
  // No IPv6 network contains a (folded) IPv4 client, even ::/0.
  EXPECT_FALSE(contains(*parse_network("::/0"), *parse("::ffff:192.0.2.1")));
  EXPECT_TRUE(contains(*parse_network("::/0"), *parse("2001:db8::1")));
  EXPECT_TRUE(contains(*parse_network("0.0.0.0/0"), *parse("::ffff:203.0.113.9")));
}

}  // namespace
}  // namespace backstop::ip
