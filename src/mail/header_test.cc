#include "mail/header.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace backstop::mail {
namespace {

bool has(const HeaderParse& p, Condition c) {
  return std::find(p.conditions.begin(), p.conditions.end(), c) != p.conditions.end();
}

TEST(HeaderSection, SplitsUnfoldsAndFindsBody) {
  const std::string raw = "From: a@b\r\nSubject: hello\r\n\tworld\r\nX-Empty:\r\n\r\nbody\r\n";
  const HeaderParse p = parse_header_section(raw);
  ASSERT_EQ(p.headers.size(), 3u);
  EXPECT_EQ(p.headers.fields()[0].name, "From");
  EXPECT_EQ(p.headers.fields()[0].value, "a@b");
  EXPECT_EQ(*p.headers.get("subject"), "hello\tworld");
  EXPECT_EQ(*p.headers.get("X-EMPTY"), "");
  EXPECT_EQ(raw.substr(p.body_offset), "body\r\n");
  EXPECT_TRUE(p.conditions.empty());
}

struct Case {
  const char* name;
  std::string raw;
  std::size_t fields;
  std::string first_name;
  std::string first_value;
  std::vector<Condition> conditions;
};

class HeaderCases : public ::testing::TestWithParam<Case> {};

TEST_P(HeaderCases, Parses) {
  const Case& c = GetParam();
  const HeaderParse p = parse_header_section(c.raw);
  ASSERT_EQ(p.headers.size(), c.fields) << c.name;
  if (c.fields > 0) {
    EXPECT_EQ(p.headers.fields()[0].name, c.first_name) << c.name;
    EXPECT_EQ(p.headers.fields()[0].value, c.first_value) << c.name;
  }
  for (Condition cond : c.conditions) EXPECT_TRUE(has(p, cond)) << c.name << " " << condition_name(cond);
  EXPECT_EQ(p.conditions.size(), c.conditions.size()) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Table, HeaderCases,
    ::testing::Values(
        Case{"lf", "A: 1\nB: 2\n\nbody", 2, "A", "1", {}},
        Case{"obsolete space before colon", "Subject : hi\n\n", 1, "Subject", "hi", {}},
        Case{"eight bit", "Subject: caf\xe9\n\n", 1, "Subject", "caf\xe9", {}},
        Case{"broken line skipped", "A: 1\nthis line has no colon\nB: 2\n\n", 2, "A", "1",
             {Condition::kBrokenHeaderLine}},
        Case{"no blank line", "A: 1\nB: 2", 2, "A", "1", {Condition::kNoBody}},
        Case{"leading blank lines", "   \n\r\nA: 1\n\n", 1, "A", "1", {}},
        Case{"continuation first", "\tfolded\nA: 1\n\n", 1, "A", "1", {Condition::kBrokenHeaderLine}},
        Case{"nul bytes", std::string("A: x\0y\n\n", 8), 1, "A", std::string("x\0y", 3), {}},
        Case{"name with space is broken", "From MAILER-DAEMON Thu Sep 18 17:54:04 2008\nA: 1\n\n", 1, "A", "1",
             {Condition::kBrokenHeaderLine}},
        Case{"crlf mix", "A: 1\r\nB: 2\n C\r\n\n", 2, "A", "1", {}},
        Case{"empty input", "", 0, "", "", {Condition::kNoBody}},
        Case{"lone cr", "\r", 0, "", "", {Condition::kNoBody}}),
    [](const auto& param_info) {
      std::string n = param_info.param.name;
      std::replace_if(n.begin(), n.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); }, '_');
      return n;
    });

TEST(HeaderSection, HugeFoldedFieldIsCut) {
  std::string raw = "Subject: start";
  for (int i = 0; i < 20000; ++i) raw += "\r\n word" + std::to_string(i);
  raw += "\r\nNext: ok\r\n\r\nbody";
  const HeaderParse p = parse_header_section(raw);
  ASSERT_EQ(p.headers.size(), 2u);
  EXPECT_EQ(p.headers.fields()[0].value.size(), kDefaultLimits.max_field_bytes);
  EXPECT_EQ(*p.headers.get("next"), "ok");
  EXPECT_TRUE(has(p, Condition::kHeaderLine));
  EXPECT_EQ(raw.substr(p.body_offset), "body");
}

TEST(HeaderSection, HundredThousandHeadersAreCapped) {
  std::string raw;
  for (int i = 0; i < 100000; ++i) raw += "X-H" + std::to_string(i) + ": v\n";
  raw += "\nbody";
  const HeaderParse p = parse_header_section(raw);
  EXPECT_EQ(p.headers.size(), kDefaultLimits.max_header_count);
  EXPECT_TRUE(has(p, Condition::kHeaderCount));
  EXPECT_EQ(raw.substr(p.body_offset), "body");
}

TEST(HeaderSection, HeaderBytesLimitStillFindsBody) {
  Limits l;
  l.max_header_bytes = 100;
  std::string raw;
  for (int i = 0; i < 50; ++i) raw += "X-A: 0123456789\n";
  raw += "\nthe body";
  const HeaderParse p = parse_header_section(raw, l);
  EXPECT_TRUE(has(p, Condition::kHeaderBytes));
  EXPECT_LT(p.headers.size(), 8u);
  EXPECT_EQ(raw.substr(p.body_offset), "the body");
}

TEST(HeaderList, LookupsAreCaseInsensitive) {
  const HeaderParse p = parse_header_section("Received: one\nreceived: two\nTo: x\n\n");
  EXPECT_EQ(p.headers.all("RECEIVED").size(), 2u);
  EXPECT_EQ(p.headers.all("RECEIVED")[1], "two");
  EXPECT_EQ(p.headers.find("cc"), nullptr);
  EXPECT_FALSE(p.headers.get("cc").has_value());
}

struct Rfc2047Case {
  const char* name;
  std::string in;
  std::string out;
};
class Rfc2047 : public ::testing::TestWithParam<Rfc2047Case> {};
TEST_P(Rfc2047, Decodes) { EXPECT_EQ(decode_rfc2047(GetParam().in), GetParam().out) << GetParam().name; }

INSTANTIATE_TEST_SUITE_P(
    Table, Rfc2047,
    ::testing::Values(
        Rfc2047Case{"plain", "hello world", "hello world"},
        Rfc2047Case{"q latin1", "=?ISO-8859-1?Q?caf=E9_au_lait?=", "caf\xc3\xa9 au lait"},
        Rfc2047Case{"b utf8", "=?utf-8?B?w6l0w6k=?=", "\xc3\xa9t\xc3\xa9"},
        Rfc2047Case{"adjacent joined", "=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
        Rfc2047Case{"adjacent folded", "=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"},
        Rfc2047Case{"split multibyte", "=?utf-8?B?ww==?= =?utf-8?B?qQ==?=", "\xc3\xa9"},
        Rfc2047Case{"text kept between", "=?utf-8?q?a?= and =?utf-8?q?b?=", "a and b"},
        Rfc2047Case{"koi8-r", "=?koi8-r?B?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"},
        Rfc2047Case{"language suffix", "=?utf-8*en?q?hi?=", "hi"},
        Rfc2047Case{"bad base64 left as is", "=?utf-8?B?***?=", "=?utf-8?B?***?="},
        Rfc2047Case{"unknown encoding", "=?utf-8?X?abc?=", "=?utf-8?X?abc?="},
        Rfc2047Case{"unterminated", "=?utf-8?q?abc", "=?utf-8?q?abc"},
        Rfc2047Case{"unknown charset read as utf8", "=?x-nonsense?q?ok?=", "ok"},
        Rfc2047Case{"invalid utf8 replaced", "=?utf-8?q?a=FFb?=", "a\xef\xbf\xbd" "b"},
        Rfc2047Case{"raw 8bit replaced", "caf\xe9", "caf\xef\xbf\xbd"},
        Rfc2047Case{"charset with slash rejected", "=?utf-8//TRANSLIT?q?x?=", "x"}),
    [](const auto& param_info) {
      std::string n = param_info.param.name;
      std::replace_if(n.begin(), n.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); }, '_');
      return n;
    });

TEST(Rfc2047, EncodedWordCountIsBounded) {
  std::string in;
  for (int i = 0; i < 1000; ++i) in += "=?utf-8?q?x?= ";
  const std::string out = decode_rfc2047(in);
  // The first max_encoded_words words are decoded and joined; the rest stays literal.
  EXPECT_EQ(out.substr(0, kDefaultLimits.max_encoded_words), std::string(kDefaultLimits.max_encoded_words, 'x'));
  EXPECT_NE(out.find("=?utf-8?q?x?="), std::string::npos);
}

TEST(Rfc2047, HostileInputIsLinear) {
  std::string in;
  for (int i = 0; i < 20000; ++i) in += "=?a?Q?b";
  const std::string out = decode_rfc2047(in);
  EXPECT_EQ(out, in);
}

TEST(Strings, Helpers) {
  EXPECT_EQ(ascii_lower("AbC\xc3\x89"), "abc\xc3\x89");
  EXPECT_TRUE(iequals("Content-Type", "content-TYPE"));
  EXPECT_FALSE(iequals("a", "ab"));
  EXPECT_EQ(trim(" \t x y \r\n"), "x y");
  EXPECT_STREQ(condition_name(Condition::kMimeDepth), "mime_depth");
}

}  // namespace
}  // namespace backstop::mail
