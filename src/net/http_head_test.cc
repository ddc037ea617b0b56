#include "net/http_head.h"

#include <gtest/gtest.h>

#include <string>

namespace backstop::net {
namespace {

TEST(HttpHead, RequestLines) {
  auto a = parse_request_line("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->method, "GET");
  EXPECT_EQ(a->target, "/metrics");
  EXPECT_EQ(a->version, "HTTP/1.1");
  auto b = parse_request_line("GET /healthz");  // HTTP/0.9 style, as curl never sends but scripts may
  ASSERT_TRUE(b);
  EXPECT_EQ(b->version, "");
  EXPECT_TRUE(parse_request_line("POST /metrics HTTP/1.0\r\n\r\n"));
}

TEST(HttpHead, HostileLinesAreMalformed) {
  for (const char* bad : {"", "\r\n", "GET", "GET ", "get /x HTTP/1.1", "GET x HTTP/1.1", "GET /x HTTP/1.1 junk",
                          "GET /x HTTP/11", "GET /a\tb HTTP/1.1", "GET /\x01 HTTP/1.1", " GET /x",
                          "VERYVERYLONGMETHODNAME /x HTTP/1.1"}) {
    auto r = parse_request_line(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), Code::kMalformed);
    }
  }
  EXPECT_FALSE(parse_request_line(std::string("GET /\xff HTTP/1.1")));
  EXPECT_FALSE(parse_request_line(std::string("GET /a\0b HTTP/1.1", 17)));
}

}  // namespace
}  // namespace backstop::net
