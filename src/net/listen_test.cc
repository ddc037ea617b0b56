#include "net/listen.h"

#include <gtest/gtest.h>

namespace backstop::net {
namespace {

TEST(Listen, Parse) {
  auto a = parse_listen("inet:127.0.0.1:8895");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8895);
  auto b = parse_listen("inet:[::1]:8895");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->to_string(), "inet:[::1]:8895");
  auto c = parse_listen("inet:8895@127.0.0.1");  // libmilter order
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->port, 8895);
  auto d = parse_listen("unix:/run/backstop/milter.sock");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind, ListenSpec::Kind::kUnix);
  EXPECT_EQ(d->path, "/run/backstop/milter.sock");
  EXPECT_FALSE(parse_listen("inet:127.0.0.1:").has_value());
  EXPECT_FALSE(parse_listen("inet::25").has_value());
}

TEST(Listen, SplitHostPort) {
  auto a = split_host_port("127.0.0.1:9895");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 9895);
  auto b = split_host_port("[::1]:80");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first, "::1");
  for (const char* bad : {"", "host", "h:", ":80", "h:99999", "[::1]80", "h:8x"}) {
    EXPECT_FALSE(split_host_port(bad)) << bad;
  }
}

TEST(Listen, RefusesHostileSpecs) {
  for (const char* bad : {"", "inet:", "unix:", "tcp:1.2.3.4:25", "inet:1.2.3.4:65536", "inet:1.2.3.4:-1",
                          "inet:1.2.3.4:25x", "inet:@1.2.3.4", "inet:[]:25"}) {
    EXPECT_FALSE(parse_listen(bad).has_value()) << bad;
  }
  // The host is an address literal or localhost: a name would be resolved
  // nowhere, and odd bytes in it would not survive printing (fuzz finding).
  for (const char* bad : {"inet:mx.example.org:25", "inet6:8895@::1r@x", "inet:[IPv6:::1]:25", "inet:1.2.3.4%x:25"}) {
    EXPECT_FALSE(parse_listen(bad).has_value()) << bad;
  }
  EXPECT_TRUE(parse_listen("inet:localhost:8895").has_value());
  EXPECT_FALSE(split_host_port("mx.example.org:9895").has_value());
  EXPECT_TRUE(split_host_port("localhost:9895").has_value());
  EXPECT_TRUE(parse_listen("local:/tmp/x.sock").has_value());
  EXPECT_TRUE(parse_listen("inet6:8895@::1").has_value());
}

}  // namespace
}  // namespace backstop::net
