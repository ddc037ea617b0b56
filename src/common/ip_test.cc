#include "common/ip.h"

#include <gtest/gtest.h>

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
  };
  for (const auto& c : cases) {
    auto a = parse(c.in);
    ASSERT_TRUE(a) << c.in;
    EXPECT_EQ(to_string(*a), c.out);
    EXPECT_EQ(a->v6, c.v6);
  }
}

TEST(Ip, RejectsGarbage) {
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "host.example", "[1.2.3.4",
                          "1.2.3.4 ", "::g", "01234567890123456789012345678901234567890123456789"
                                             "0123456789012345"}) {
    EXPECT_FALSE(parse(bad)) << bad;
  }
}

TEST(Ip, Networks) {
  auto n = parse_network("192.0.2.77/24");
  ASSERT_TRUE(n);
  EXPECT_EQ(to_string(*n), "192.0.2.0/24");
  EXPECT_TRUE(contains(*n, *parse("192.0.2.200")));
  EXPECT_FALSE(contains(*n, *parse("192.0.3.1")));
  EXPECT_FALSE(contains(*n, *parse("2001:db8::1")));
  auto odd = parse_network("10.0.0.0/9");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(contains(*odd, *parse("10.127.255.255")));
  EXPECT_FALSE(contains(*odd, *parse("10.128.0.0")));
  auto v6 = parse_network("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(contains(*v6, *parse("2001:db8:ffff::1")));
  auto host = parse_network("198.51.100.1");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix, 32);
  auto all = parse_network("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(contains(*all, *parse("203.0.113.9")));
  for (const char* bad : {"192.0.2.0/33", "192.0.2.0/", "192.0.2.0/-1", "x/8", "::/129", "1.2.3.4/8x"}) {
    EXPECT_FALSE(parse_network(bad)) << bad;
  }
}

}  // namespace
}  // namespace backstop::ip
