#include "mail/dsn_values.h"

#include <gtest/gtest.h>

namespace backstop::mail {
namespace {

TEST(Xtext, DecodesAndRefusesWhatIsNotXtext) {
  EXPECT_EQ(decode_envid("QQ314159"), "QQ314159");
  EXPECT_EQ(decode_envid("a+2Bb+3Dc+20d"), "a+b=c d");
  EXPECT_FALSE(decode_envid(""));
  EXPECT_FALSE(decode_envid("a+2")) << "truncated hexchar";
  EXPECT_FALSE(decode_envid("a+")) << "truncated hexchar";
  EXPECT_FALSE(decode_envid("a+2b")) << "hexchar is upper case";
  EXPECT_FALSE(decode_envid("a=b")) << "'=' must be encoded";
  EXPECT_FALSE(decode_envid("a b")) << "a blank must be encoded";
  EXPECT_FALSE(decode_envid("a+00")) << "decodes to a control character";
  EXPECT_FALSE(decode_envid("a+C3+A9")) << "decodes to non-ASCII";
  EXPECT_TRUE(decode_envid(std::string(kMaxEnvidChars, 'x')));
  EXPECT_FALSE(decode_envid(std::string(kMaxEnvidChars + 1, 'x'))) << "over 100 characters";
  std::string encoded;
  for (std::size_t i = 0; i < kMaxEnvidChars; ++i) encoded += "+2B";
  EXPECT_EQ(decode_envid(encoded), std::string(kMaxEnvidChars, '+'));
  EXPECT_FALSE(decode_envid(encoded + "x"));
}

TEST(Xtext, EnvidParameter) {
  EXPECT_EQ(envid_parameter("ENVID=abc+2B1"), "abc+1");
  EXPECT_EQ(envid_parameter("envid=Q"), "Q");
  EXPECT_FALSE(envid_parameter("ENVID="));
  EXPECT_FALSE(envid_parameter("RET=HDRS"));
  EXPECT_FALSE(envid_parameter("ENVIDX=1"));
  EXPECT_FALSE(envid_parameter("ENVID=a b"));
}

TEST(DateTime, RealDates) {
  // date -u -d '2026-12-06 15:42:40' +%s
  constexpr std::int64_t t = 1796571760;
  EXPECT_EQ(parse_date_time("Sun,  6 Dec 2026 15:42:40 +0000 (UTC)"), t);  // Postfix
  EXPECT_EQ(parse_date_time("Sun, 06 Dec 2026 16:42:40 +0100"), t);
  EXPECT_EQ(parse_date_time("6 Dec 2026 10:42:40 -0500"), t);
  EXPECT_EQ(parse_date_time("Sun, 6 Dec 2026 10:42:40 EST"), t);
  EXPECT_EQ(parse_date_time("Sun, 6 Dec 2026 15:42:40 GMT"), t);
  EXPECT_EQ(parse_date_time("Sun, 6 Dec 26 15:42:40 +0000"), t) << "2-digit year";
  EXPECT_EQ(parse_date_time("Sun, 6 Dec 2026 15:42 +0000"), t - 40) << "no seconds";
  EXPECT_EQ(parse_date_time("Sun, 6 Dec 2026 15:42:40"), t) << "no zone: UTC";
  EXPECT_EQ(parse_date_time("Sun, 6 Dec 2026 15:42:40 Z"), t);
  EXPECT_EQ(parse_date_time("Thu, 1 Jan 1970 00:00:00 +0000"), 0);
  EXPECT_EQ(parse_date_time("Tue, 29 Feb 2028 00:00:00 +0000"), 1835395200);
}

TEST(DateTime, NearMissesAreRefused) {
  EXPECT_FALSE(parse_date_time(""));
  EXPECT_FALSE(parse_date_time("yesterday"));
  EXPECT_FALSE(parse_date_time("Sun, 6 Foo 2026 15:42:40 +0000"));
  EXPECT_FALSE(parse_date_time("Sun, 32 Dec 2026 15:42:40 +0000"));
  EXPECT_FALSE(parse_date_time("Sun, 29 Feb 2027 15:42:40 +0000")) << "not a leap year";
  EXPECT_FALSE(parse_date_time("Sun, 6 Dec 2026 24:00:00 +0000"));
  EXPECT_FALSE(parse_date_time("Sun, 6 Dec 2026 15:60:00 +0000"));
  EXPECT_FALSE(parse_date_time("Sun, 6 Dec 2026 15:42:40 +2400"));
  EXPECT_FALSE(parse_date_time("Sun, 6 Dec 2026 15:42:40 +00"));
  EXPECT_FALSE(parse_date_time("Sun, 6 Dec 1969 15:42:40 +0000"));
  EXPECT_FALSE(parse_date_time("Sun, 6 Dec 2026 1542 +0000"));
  EXPECT_FALSE(parse_date_time(std::string(kMaxDateBytes, ' ') + "6 Dec 2026 15:42:40 +0000"));
}

}  // namespace
}  // namespace backstop::mail
