#include "mail/received.h"

#include <gtest/gtest.h>

#include <string>

namespace backstop::mail {
namespace {

struct Case {
  const char* name;
  std::string in;
  Received want;
};

class ReceivedCases : public ::testing::TestWithParam<Case> {};

TEST_P(ReceivedCases, Parses) {
  const Case& c = GetParam();
  auto r = parse_received(c.in);
  ASSERT_TRUE(r.has_value()) << c.name;
  EXPECT_EQ(r->from_helo, c.want.from_helo) << c.name;
  EXPECT_EQ(r->from_rdns, c.want.from_rdns) << c.name;
  EXPECT_EQ(r->from_ip, c.want.from_ip) << c.name;
  EXPECT_EQ(r->by, c.want.by) << c.name;
  EXPECT_EQ(r->with, c.want.with) << c.name;
  EXPECT_EQ(r->id, c.want.id) << c.name;
  EXPECT_EQ(r->for_addr, c.want.for_addr) << c.name;
  EXPECT_EQ(r->date, c.want.date) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ReceivedCases,
    ::testing::Values(
        Case{"postfix",
             "from mail.example.org (mail.example.org [192.0.2.10]) by mx.example.com (Postfix) with ESMTPS id "
             "4ABCD123 for <user@example.com>; Mon, 2 Jan 2023 10:00:00 +0000 (UTC)",
             {"mail.example.org", "mail.example.org", "192.0.2.10", "mx.example.com", "ESMTPS", "4ABCD123",
              "user@example.com", "Mon, 2 Jan 2023 10:00:00 +0000 (UTC)"}},
        Case{"postfix unknown ipv6",
             "from helo.example (unknown [IPv6:2001:DB8:0:0::1]) by mx.example.com (Postfix) with ESMTP id X1; Tue, 3 Jan 2023",
             {"helo.example", "", "2001:db8::1", "mx.example.com", "ESMTP", "X1", "", "Tue, 3 Jan 2023"}},
        Case{"sendmail may be forged",
             "from client.example (host.example.net [198.51.100.7] (may be forged)) by relay.example (8.14.4/8.14.4) "
             "with ESMTP id p728XMdL031619 for <root@relay.example>; Tue, 2 Aug 2011 17:33:22 +0900",
             {"client.example", "host.example.net", "198.51.100.7", "relay.example", "ESMTP", "p728XMdL031619",
              "root@relay.example", "Tue, 2 Aug 2011 17:33:22 +0900"}},
        Case{"exim",
             "from [203.0.113.5] (port=4123 helo=desk.example) by mail.example.net with esmtpsa (TLS1.2) (Exim 4.92) "
             "(envelope-from <x@example.net>) id 1abcDE-0001Zx-3q for y@example.org; Wed, 04 Jan 2023 12:00:00 +0100",
             {"desk.example", "", "203.0.113.5", "mail.example.net", "esmtpsa", "1abcDE-0001Zx-3q", "y@example.org",
              "Wed, 04 Jan 2023 12:00:00 +0100"}},
        Case{"exim rdns with port",
             "from host.example.com ([198.51.100.20]:51234 helo=host.example.com) by mx.example with esmtp id 1x; d",
             {"host.example.com", "", "198.51.100.20", "mx.example", "esmtp", "1x", "", "d"}},
        Case{"qmail",
             "from unknown (HELO mail.example.biz) (192.0.2.99) by smtp.example.com with SMTP; 1 Jan 2005 00:00:00 -0000",
             {"mail.example.biz", "", "192.0.2.99", "smtp.example.com", "SMTP", "", "", "1 Jan 2005 00:00:00 -0000"}},
        Case{"gmail",
             "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com with SMTPS id "
             "a1sor123 for <me@gmail.com> (Google Transport Security); Thu, 5 Jan 2023 01:02:03 -0800 (PST)",
             {"mail-sor-f41.google.com", "mail-sor-f41.google.com", "209.85.220.41", "mx.google.com", "SMTPS",
              "a1sor123", "me@gmail.com", "Thu, 5 Jan 2023 01:02:03 -0800 (PST)"}},
        Case{"gmail by only", "by 10.220.186.194 with SMTP id ct2csp34572vcb; Sat, 31 Mar 2012 13:05:39 -0700 (PDT)",
             {"", "", "", "10.220.186.194", "SMTP", "ct2csp34572vcb", "", "Sat, 31 Mar 2012 13:05:39 -0700 (PDT)"}},
        Case{"exchange",
             "from EXCH01.corp.example (10.1.1.1) by EXCH02.corp.example (10.1.1.2) with Microsoft SMTP Server (TLS) "
             "id 14.3.123.3; Fri, 6 Jan 2023 09:00:00 +0100",
             {"EXCH01.corp.example", "", "10.1.1.1", "EXCH02.corp.example", "Microsoft", "14.3.123.3", "",
              "Fri, 6 Jan 2023 09:00:00 +0100"}},
        Case{"exchange mapped ipv6",
             "from a.example ([::ffff:192.0.2.33]) by b.example with mapi; Sat, 7 Jan 2023",
             {"a.example", "", "192.0.2.33", "b.example", "mapi", "", "", "Sat, 7 Jan 2023"}},
        Case{"helo is literal", "from [192.0.2.1] by x.example; d", {"[192.0.2.1]", "", "192.0.2.1", "x.example", "", "", "", "d"}},
        Case{"sendmail local submit", "(from ak@localhost) by host.example (8.14.4/8.14.4/Submit) id p1; d",
             {"", "", "", "host.example", "", "p1", "", "d"}}),
    [](const auto& param_info) {
      std::string n = param_info.param.name;
      for (char& ch : n) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

TEST(Received, CommentsAfterByAndWith) {
  auto p = parse_received("from a (b [192.0.2.1]) by mx.example.org (Postfix) with ESMTP id 4A; d");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->by_comment, "Postfix");
  EXPECT_EQ(p->with_comment, "");
  auto e = parse_received("from [192.0.2.1] (helo=x) by mx.example.org with esmtp (Exim 4.96) id 1q-2-3; d");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->by_comment, "");
  EXPECT_EQ(e->with_comment, "Exim 4.96");
}

TEST(Received, QmailInvokedHasNoClauses) {
  // Only a comment and a date: neither from nor by.
  EXPECT_FALSE(parse_received("(qmail 12345 invoked by uid 0); 1 Jan 2005").has_value());
  EXPECT_FALSE(parse_received("").has_value());
  EXPECT_FALSE(parse_received("garbage words only").has_value());
}

TEST(Received, HostileInputIsBounded) {
  const std::string deep = "from x " + std::string(100000, '(') + " by y";
  auto r = parse_received(deep);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->from_helo, "x");
  const std::string words = "from " + std::string(200000, 'a') + " by b";
  auto w = parse_received(words);
  ASSERT_TRUE(w.has_value());
  EXPECT_LE(w->from_helo.size(), 1024u);
  EXPECT_EQ(w->by, "b");
}

TEST(IpLiteral, Validates) {
  EXPECT_TRUE(is_ip_literal("192.0.2.1"));
  EXPECT_TRUE(is_ip_literal("2001:db8::1"));
  EXPECT_FALSE(is_ip_literal("[192.0.2.1]"));
  EXPECT_FALSE(is_ip_literal("999.1.1.1"));
  EXPECT_FALSE(is_ip_literal("host.example"));
  EXPECT_FALSE(is_ip_literal(""));
}

}  // namespace
}  // namespace backstop::mail
