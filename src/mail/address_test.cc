#include "mail/address.h"

#include <gtest/gtest.h>

#include <string>

namespace backstop::mail {
namespace {

struct Expect {
  std::string display, local, domain, group;
};
struct Case {
  const char* name;
  std::string in;
  std::vector<Expect> out;
};

class AddressCases : public ::testing::TestWithParam<Case> {};

TEST_P(AddressCases, Parses) {
  const Case& c = GetParam();
  auto r = parse_address_list(c.in);
  ASSERT_TRUE(r.has_value()) << c.name << ": " << r.error().to_string();
  ASSERT_EQ(r->size(), c.out.size()) << c.name;
  for (std::size_t i = 0; i < c.out.size(); ++i) {
    EXPECT_EQ((*r)[i].display_name, c.out[i].display) << c.name << " #" << i;
    EXPECT_EQ((*r)[i].local, c.out[i].local) << c.name << " #" << i;
    EXPECT_EQ((*r)[i].domain, c.out[i].domain) << c.name << " #" << i;
    EXPECT_EQ((*r)[i].group, c.out[i].group) << c.name << " #" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, AddressCases,
    ::testing::Values(
        Case{"bare", "a@example.com", {{"", "a", "example.com", ""}}},
        Case{"angle", "<a@example.com>", {{"", "a", "example.com", ""}}},
        Case{"display", "John Doe <john@example.com>", {{"John Doe", "john", "example.com", ""}}},
        Case{"quoted display", "\"Doe, John\" <john@example.com>, b@c", {{"Doe, John", "john", "example.com", ""},
                                                                        {"", "b", "c", ""}}},
        Case{"comment display", "john@example.com (John Doe)", {{"John Doe", "john", "example.com", ""}}},
        Case{"comment after angle", "<a@b> (Name Here)", {{"Name Here", "a", "b", ""}}},
        Case{"nested comment", "a@b (x (y) z)", {{"x (y) z", "a", "b", ""}}},
        Case{"quoted local", "\"a b\"@example.com", {{"", "a b", "example.com", ""}}},
        Case{"encoded display", "=?utf-8?q?J=C3=B6rg?= <j@x.de>", {{"J\xc3\xb6rg", "j", "x.de", ""}}},
        Case{"group", "Team: a@x, B <b@y>;, c@z", {{"", "a", "x", "Team"}, {"B", "b", "y", "Team"}, {"", "c", "z", ""}}},
        Case{"empty group", "undisclosed-recipients:;", {}},
        Case{"route", "<@relay.example:user@example.com>", {{"", "user", "example.com", ""}}},
        Case{"bare local", "MAILER-DAEMON", {{"", "MAILER-DAEMON", "", ""}}},
        Case{"domain literal", "a@[192.0.2.1]", {{"", "a", "[192.0.2.1]", ""}}},
        Case{"unterminated angle", "X <a@b", {{"X", "a", "b", ""}}},
        Case{"unterminated quote", "\"John <j@x>", {{"John", "j", "x", ""}}},
        Case{"unterminated comment", "a@b (John", {{"John", "a", "b", ""}}},
        Case{"empty entries", ",, a@b ,,", {{"", "a", "b", ""}}},
        Case{"obsolete dots", "john . doe @ example . com", {{"", "john.doe", "example.com", ""}}}),
    [](const auto& param_info) {
      std::string n = param_info.param.name;
      for (char& ch : n) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

TEST(AddressList, NothingAddressLikeIsMalformed) {
  auto r = parse_address_list("just some words");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kMalformed);
  EXPECT_TRUE(parse_address_list("").has_value());
}

TEST(AddressList, CountIsBounded) {
  std::string in;
  for (int i = 0; i < 5000; ++i) in += "u" + std::to_string(i) + "@x, ";
  auto r = parse_address_list(in);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size(), kDefaultLimits.max_addresses);
}

TEST(AddressList, TenThousandNestedCommentsAreBounded) {
  const std::string in = "a@b " + std::string(10000, '(') + "deep" + std::string(10000, ')') + ", c@d";
  auto r = parse_address_list(in);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].addr_spec(), "c@d");
  EXPECT_LE((*r)[0].display_name.size(), 2 * kDefaultLimits.max_comment_depth + 4);
}

TEST(Address, AddrSpecRequotes) {
  Address a;
  a.local = "a b";
  a.domain = "x";
  EXPECT_EQ(a.addr_spec(), "\"a b\"@x");
  a.local = "plain.name";
  EXPECT_EQ(a.addr_spec(), "plain.name@x");
  a.local = "q\"x";
  EXPECT_EQ(a.addr_spec(), "\"q\\\"x\"@x");
}

TEST(SmtpPath, Forms) {
  auto null = parse_smtp_path("<>");
  ASSERT_TRUE(null.has_value());
  EXPECT_FALSE(null->has_value());
  auto a = parse_smtp_path("<prvs=1234abcdef=user@example.com>");
  ASSERT_TRUE(a.has_value() && a->has_value());
  EXPECT_EQ((*a)->local, "prvs=1234abcdef=user");
  EXPECT_EQ((*a)->domain, "example.com");
  auto bare = parse_smtp_path(" user@example.com ");
  ASSERT_TRUE(bare.has_value() && bare->has_value());
  EXPECT_EQ((*bare)->addr_spec(), "user@example.com");
  auto route = parse_smtp_path("<@a.example,@b.example:u@c.example>");
  ASSERT_TRUE(route.has_value() && route->has_value());
  EXPECT_EQ((*route)->addr_spec(), "u@c.example");
  EXPECT_FALSE(parse_smtp_path("<@a.example>").has_value());
}

}  // namespace
}  // namespace backstop::mail
