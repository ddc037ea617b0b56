#include "policyd/request.h"

#include <gtest/gtest.h>

namespace backstop::policyd {
namespace {

constexpr const char* kPostfixRcpt =
    "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
    "client_address=192.0.2.1\nclient_name=client.example\nclient_port=4000\n"
    "helo_name=client.example\nsender=\nrecipient=prvs=0123456789=user@example.test\n"
    "recipient_count=0\nqueue_id=\ninstance=1a2b.3c4d.1\nsize=0\nsasl_username=\n"
    "policy_context=\n\n";

TEST(PolicyParser, PostfixRequestAndGet) {
  RequestParser p;
  p.feed(kPostfixRcpt);
  auto r = p.next();
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->has_value());
  const Request& q = **r;
  EXPECT_EQ(q.get("protocol_state").value_or("?"), "RCPT");
  EXPECT_EQ(q.get("sender").value_or("?"), "");  // present and empty: a bounce
  EXPECT_EQ(q.get("recipient").value_or("?"), "prvs=0123456789=user@example.test");
  EXPECT_FALSE(q.get("nonexistent").has_value());
  EXPECT_EQ(q.attributes().size(), 15u);
  auto r2 = p.next();
  ASSERT_TRUE(r2.has_value());
  EXPECT_FALSE(r2->has_value());
}

TEST(PolicyParser, ByteByByteTwoRequestsCrLfAndFirstValueWins) {
  std::string two = std::string("a=1\r\nb=x=y\na=2\n\n") + "c=3\n\n";
  RequestParser p;
  std::vector<Request> got;
  for (char ch : two) {
    p.feed(std::string_view(&ch, 1));
    for (;;) {
      auto r = p.next();
      ASSERT_TRUE(r.has_value());
      if (!r->has_value()) break;
      got.push_back(**r);
    }
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].get("a").value_or("?"), "1");
  EXPECT_EQ(got[0].get("b").value_or("?"), "x=y");
  EXPECT_EQ(got[1].get("c").value_or("?"), "3");
}

TEST(PolicyParser, MalformedLines) {
  for (std::string bad : {std::string("noequals\n"), std::string("=value\n"),
                          std::string("a=b\0c\n", 6)}) {
    RequestParser p;
    p.feed(bad);
    auto r = p.next();
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), Code::kMalformed);
    EXPECT_FALSE(p.next().has_value());  // poisoned
  }
}

TEST(PolicyParser, Limits) {
  {
    RequestParser p;
    p.feed(std::string(kMaxLineBytes + 1, 'a'));  // no newline yet: already too long
    auto r = p.next();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Code::kTooLarge);
  }
  {
    RequestParser p;
    std::string req;
    for (std::size_t i = 0; i <= kMaxAttributes; ++i) req += "a" + std::to_string(i) + "=v\n";
    p.feed(req);
    auto r = p.next();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Code::kTooLarge);
  }
  {
    RequestParser p;
    std::string line = "x=" + std::string(kMaxLineBytes - 10, 'v') + "\n";
    std::string req;
    for (int i = 0; i < 10; ++i) req += line;  // each line fine, the request too big
    p.feed(req);
    auto r = p.next();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Code::kTooLarge);
  }
  {
    RequestParser p;  // exactly at the line limit is fine
    p.feed("x=" + std::string(kMaxLineBytes - 2, 'v') + "\n\n");
    auto r = p.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->has_value());
  }
}

TEST(PolicyParser, FinishAtEof) {
  RequestParser p;
  p.feed("request=smtpd_access_policy\nrecipient=a@b\n");  // Exim, no blank line
  auto r = p.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
  auto f = p.finish();
  ASSERT_TRUE(f.has_value());
  ASSERT_TRUE(f->has_value());
  EXPECT_EQ((*f)->get("recipient").value_or("?"), "a@b");
  RequestParser empty;
  auto e = empty.finish();
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->has_value());
  RequestParser partial;
  partial.feed("a=1\nb=2");
  EXPECT_FALSE(partial.finish().has_value());  // ends inside a line
}

TEST(PolicyResponse, FormatAndInjectionSafety) {
  EXPECT_EQ(format_response("DUNNO"), "action=DUNNO\n\n");
  EXPECT_EQ(format_response(""), "action=DUNNO\n\n");
  EXPECT_EQ(format_response("550 5.7.1 bad\n\naction=OK"), "action=550 5.7.1 bad  action=OK\n\n");
}

}  // namespace
}  // namespace backstop::policyd
