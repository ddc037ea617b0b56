#include "net/form.h"

#include <gtest/gtest.h>

#include <string>

namespace backstop::net {
namespace {

TEST(Form, DecodesPairs) {
  auto f = parse_form("ip=192.0.2.1&reason=fixed+our+bounces%21&token=ab%3Acd&flag&&x=");
  ASSERT_TRUE(f) << f.error().to_string();
  ASSERT_EQ(f->size(), 5u);
  EXPECT_EQ(*form_value(*f, "ip"), "192.0.2.1");
  EXPECT_EQ(*form_value(*f, "reason"), "fixed our bounces!");
  EXPECT_EQ(*form_value(*f, "token"), "ab:cd");
  EXPECT_EQ(*form_value(*f, "flag"), "");
  EXPECT_EQ(*form_value(*f, "x"), "");
  EXPECT_FALSE(form_value(*f, "missing"));
  EXPECT_TRUE(parse_form("")->empty());
}

TEST(Form, FirstValueWins) {
  auto f = parse_form("ip=1&ip=2");
  ASSERT_TRUE(f);
  EXPECT_EQ(*form_value(*f, "ip"), "1");
}

TEST(Form, HostileInput) {
  // Bad and truncated escapes.
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "a=%%41", "%=1", "a=%4g"}) {
    auto f = parse_form(bad);
    ASSERT_FALSE(f) << bad;
    EXPECT_EQ(f.error().code(), Code::kMalformed) << bad;
  }
  // Any byte decodes, NUL and invalid UTF-8 included; the caller validates.
  auto nul = parse_form("a=%00%ff%3Cscript%3E");
  ASSERT_TRUE(nul);
  EXPECT_EQ(*form_value(*nul, "a"), std::string("\0\xff<script>", 10));
  // Limits.
  EXPECT_EQ(parse_form(std::string(kMaxFormBytes + 1, 'a')).error().code(), Code::kTooLarge);
  EXPECT_TRUE(parse_form(std::string(kMaxFormValueBytes, 'a')));
  EXPECT_EQ(parse_form("a=" + std::string(kMaxFormValueBytes + 1, 'b')).error().code(), Code::kTooLarge);
  std::string many;
  for (std::size_t i = 0; i <= kMaxFormFields; ++i) many += "f=1&";
  EXPECT_EQ(parse_form(many).error().code(), Code::kTooLarge);
  std::string ampersands(kMaxFormBytes, '&');
  EXPECT_TRUE(parse_form(ampersands)->empty()) << "empty pairs are skipped, not counted";
}

TEST(Form, PercentDecodeForPaths) {
  EXPECT_EQ(*percent_decode("2001%3adb8%3A%3A1", false), "2001:db8::1");
  EXPECT_EQ(*percent_decode("a+b", false), "a+b");
  EXPECT_EQ(*percent_decode("a+b", true), "a b");
  EXPECT_FALSE(percent_decode("%", false));
}

}  // namespace
}  // namespace backstop::net
