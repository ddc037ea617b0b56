#include "dnsbl/zone.h"

#include <gtest/gtest.h>

namespace backstop::dnsbl {
namespace {

TEST(SafeMode, QueriesOnlyNullAndPostmaster) {
  EXPECT_TRUE(should_query(true, ""));
  EXPECT_TRUE(should_query(true, "<>"));
  EXPECT_TRUE(should_query(true, "postmaster@example.com"));
  EXPECT_TRUE(should_query(true, "<PostMaster@example.com>"));
  EXPECT_TRUE(should_query(true, "postmaster"));
  EXPECT_FALSE(should_query(true, "alice@example.com"));
  EXPECT_FALSE(should_query(true, "postmaster-bounces@example.com"));
  EXPECT_FALSE(should_query(true, "xpostmaster@example.com"));
  EXPECT_TRUE(should_query(false, "alice@example.com"));
}

TEST(InterpretCodes, MapsCodesAndRefusesNonListingAnswers) {
  ZoneConfig z;
  z.name = "bl.test";
  ZoneResult r;
  interpret_codes(z, {{127, 0, 0, 2}}, &r);
  EXPECT_EQ(r.status, LookupStatus::kListed);
  EXPECT_EQ(r.codes, std::vector<std::string>{"127.0.0.2"});

  z.codes = {{"127.0.0.2", "backscatter"}, {"127.0.0.3", "callout"}};
  ZoneResult m;
  interpret_codes(z, {{127, 0, 0, 3}, {127, 0, 0, 10}}, &m);
  EXPECT_EQ(m.status, LookupStatus::kListed);
  EXPECT_EQ(m.meanings, std::vector<std::string>{"callout"});
  EXPECT_EQ(m.ignored_codes, std::vector<std::string>{"127.0.0.10"});

  ZoneResult unmapped;
  interpret_codes(z, {{127, 0, 0, 10}}, &unmapped);
  EXPECT_EQ(unmapped.status, LookupStatus::kNotListed);

  ZoneResult hijack;
  interpret_codes(z, {{127, 0, 0, 2}, {93, 184, 216, 34}}, &hijack);
  EXPECT_EQ(hijack.status, LookupStatus::kError);
  EXPECT_EQ(hijack.error, LookupError::kMalformed);

  ZoneResult quota;
  interpret_codes(ZoneConfig{}, {{127, 255, 255, 254}}, &quota);
  EXPECT_EQ(quota.status, LookupStatus::kError);

  ZoneResult loopback;
  interpret_codes(ZoneConfig{}, {{127, 0, 0, 1}}, &loopback);
  EXPECT_EQ(loopback.status, LookupStatus::kNotListed);
  EXPECT_EQ(loopback.ignored_codes, std::vector<std::string>{"127.0.0.1"});

  ZoneResult none;
  interpret_codes(z, {}, &none);
  EXPECT_EQ(none.status, LookupStatus::kNotListed);
}

ZoneResult listed(std::string zone, Action action, std::string txt = "") {
  ZoneResult r;
  r.zone = std::move(zone);
  r.action = action;
  r.status = LookupStatus::kListed;
  r.codes = {"127.0.0.2"};
  r.meanings = {"backscatter"};
  r.txt = std::move(txt);
  r.score = 2.5;
  return r;
}

TEST(Decide, RejectsWithTxtOfFirstRejectZone) {
  CheckResult c;
  c.queried = true;
  c.ip = "192.0.2.10";
  c.zones = {listed("tag.test", Action::kTag), listed("bl.test", Action::kReject, "Backscatter from 192.0.2.10\r\n250 ok"),
             listed("bl2.test", Action::kReject, "second")};
  auto d = decide(c);
  EXPECT_EQ(d.verdict, SmtpDecision::Verdict::kReject);
  EXPECT_EQ(d.reply(), "554 5.7.1 Service unavailable; client [192.0.2.10] blocked using bl.test; "
                       "Backscatter from 192.0.2.10 250 ok");
  EXPECT_EQ(d.reply().find('\n'), std::string::npos);
}

TEST(Decide, RejectWithoutTxtUsesMeaning) {
  CheckResult c;
  c.ip = "192.0.2.10";
  c.zones = {listed("bl.test", Action::kReject)};
  EXPECT_EQ(decide(c).text, "Service unavailable; client [192.0.2.10] blocked using bl.test; backscatter");
}

TEST(Decide, ZoneMessageTemplate) {
  CheckResult c;
  c.ip = "192.0.2.10";
  c.zones = {listed("bl.test", Action::kReject, "Sends backscatter")};
  c.zones[0].message = "Rejected: %txt% (see %txt%)";
  EXPECT_EQ(decide(c).reply(), "554 5.7.1 Rejected: Sends backscatter (see Sends backscatter)");
}

TEST(Decide, TagsAndScores) {
  CheckResult c;
  c.ip = "2001:db8::1";
  c.zones = {listed("tag.test", Action::kTag), listed("score.test", Action::kScore)};
  auto d = decide(c);
  EXPECT_EQ(d.verdict, SmtpDecision::Verdict::kTag);
  EXPECT_EQ(d.header_name, "X-Backstop-DNSBL");
  EXPECT_EQ(d.header_value, "ip=2001:db8::1; zone=tag.test; code=127.0.0.2; meaning=backscatter");
  EXPECT_DOUBLE_EQ(d.score, 5.0);
  EXPECT_EQ(d.reply(), "");
}

TEST(Decide, ErrorsNeverReject) {
  CheckResult c;
  c.ip = "192.0.2.10";
  for (auto e : {LookupError::kTimeout, LookupError::kServfail, LookupError::kTruncated,
                 LookupError::kMalformed, LookupError::kRefused, LookupError::kOther}) {
    ZoneResult r = listed("bl.test", Action::kReject);
    r.status = LookupStatus::kError;
    r.error = e;
    c.zones.push_back(r);
  }
  auto d = decide(c);
  EXPECT_EQ(d.verdict, SmtpDecision::Verdict::kAccept);
  EXPECT_FALSE(c.listed());
}

TEST(Action, ParsesNames) {
  EXPECT_EQ(*parse_action("tag"), Action::kTag);
  EXPECT_EQ(action_name(*parse_action("score")), "score");
  EXPECT_FALSE(parse_action("drop"));
}

}  // namespace
}  // namespace backstop::dnsbl
