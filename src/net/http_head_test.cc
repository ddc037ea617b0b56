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

TEST(HttpHead, HeaderFields) {
  const std::string head =
      "POST /delist HTTP/1.1\r\nHost: bl.example.org\r\ncontent-length:  12 \r\n"
      "Content-Type: application/x-www-form-urlencoded\r\nX-Empty:\r\n\r\nHost: body\r\n";
  EXPECT_EQ(**header_value(head, "host"), "bl.example.org") << "the body is not the head";
  EXPECT_EQ(**header_value(head, "X-Empty"), "");
  EXPECT_FALSE(*header_value(head, "Origin"));
  EXPECT_EQ(**content_length(head), 12u);
  EXPECT_FALSE(*content_length("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(*header_value("GET /", "Host"));
  EXPECT_EQ(**header_value("GET / HTTP/1.0\nHost: lf-only\n\n", "Host"), "lf-only");
  auto t = split_target("/lookup/192.0.2.1?format=json&x=1");
  EXPECT_EQ(t.path, "/lookup/192.0.2.1");
  EXPECT_EQ(t.query, "format=json&x=1");
  EXPECT_EQ(split_target("/").query, "");
}

TEST(HttpHead, HostileHeaderFields) {
  // Smuggling: a second Content-Length or Host is refused, whatever its value.
  EXPECT_FALSE(content_length("POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n"));
  EXPECT_FALSE(header_value("GET / HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n", "Host"));
  for (const char* bad : {"-1", "+1", "1,1", "0x10", "", "12345678901234567890", "1 1"}) {
    EXPECT_FALSE(content_length(std::string("POST / HTTP/1.1\r\nContent-Length: ") + bad + "\r\n\r\n")) << bad;
  }
  // Folding, lines without a colon, control bytes.
  EXPECT_FALSE(header_value("GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", "Host"));
  EXPECT_FALSE(header_value("GET / HTTP/1.1\r\nno colon\r\n\r\n", "Host"));
  EXPECT_FALSE(header_value("GET / HTTP/1.1\r\n: v\r\n\r\n", "Host"));
  EXPECT_FALSE(header_value(std::string("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 29), "Host"));
  EXPECT_FALSE(header_value("GET / HTTP/1.1\r\nHost: a\x1b[2J\r\n\r\n", "Host"));
  // A large head is walked without trouble.
  std::string big = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 2000; ++i) big += "X-A: " + std::string(30, 'a') + "\r\n";
  big += "Host: h\r\n\r\n";
  EXPECT_EQ(**header_value(big, "Host"), "h");
}

}  // namespace
}  // namespace backstop::net
