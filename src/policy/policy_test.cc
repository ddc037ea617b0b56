#include "policy/policy.h"

#include <gtest/gtest.h>

namespace backstop::policy {
namespace {

using classify::Kind;
using correlate::Verdict;

classify::Verdict make(Kind k) {
  classify::Verdict v;
  v.kind = k;
  v.signals = {"null_sender", "dsn"};
  return v;
}

correlate::Outcome outcome(Verdict v) {
  correlate::Outcome o;
  o.verdict = v;
  return o;
}

TEST(Policy, DesignDefaults) {
  Table t;
  struct Row { Kind k; Action ours, not_ours, unknown; };
  const Row rows[] = {
      {Kind::kBounce, Action::kAccept, Action::kReject, Action::kTag},
      {Kind::kVirusNotice, Action::kAccept, Action::kReject, Action::kReject},
      {Kind::kChallenge, Action::kAccept, Action::kReject, Action::kReject},
      {Kind::kSubscriptionConfirm, Action::kAccept, Action::kTag, Action::kTag},
      {Kind::kAutoreply, Action::kAccept, Action::kReject, Action::kTag},
      {Kind::kNone, Action::kAccept, Action::kAccept, Action::kAccept},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(t.at(r.k, Verdict::kOurs), r.ours);
    EXPECT_EQ(t.at(r.k, Verdict::kNotOurs), r.not_ours);
    EXPECT_EQ(t.at(r.k, Verdict::kUnknown), r.unknown);
  }
}

TEST(Policy, ConfigMatchesDesignAndOverrides) {
  Table defaults;
  Table from_defaults = Table::from_config(config::Config::defaults());
  for (Kind k : {Kind::kBounce, Kind::kVirusNotice, Kind::kChallenge, Kind::kSubscriptionConfirm,
                 Kind::kAutoreply}) {
    for (Verdict v : {Verdict::kOurs, Verdict::kNotOurs, Verdict::kUnknown}) {
      EXPECT_EQ(from_defaults.at(k, v), defaults.at(k, v));
    }
  }
  auto cfg = config::Config::parse("actions.bounce.unknown = \"quarantine\"\nactions.tag_header = \"X-BS\"");
  ASSERT_TRUE(cfg);
  Table t = Table::from_config(*cfg);
  EXPECT_EQ(t.at(Kind::kBounce, Verdict::kUnknown), Action::kQuarantine);
  auto d = t.decide(make(Kind::kBounce), outcome(Verdict::kUnknown));
  EXPECT_EQ(d.header_name, "X-BS");
}

TEST(Policy, RejectTextNamesTheReason) {
  Table t;
  auto d = t.decide(make(Kind::kBounce), outcome(Verdict::kNotOurs));
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_EQ(d.reply.line(), "550 5.7.1 Backscatter rejected: bounce of a message this domain did not send");
  d = t.decide(make(Kind::kChallenge), outcome(Verdict::kUnknown));
  EXPECT_EQ(d.reply.code, "550");
  EXPECT_NE(d.reply.text.find("challenge"), std::string::npos);
}

TEST(Policy, TagHeader) {
  Table t;
  auto d = t.decide(make(Kind::kBounce), outcome(Verdict::kUnknown));
  EXPECT_EQ(d.action, Action::kTag);
  EXPECT_EQ(d.header_name, "X-Backscatter");
  EXPECT_EQ(d.header_value, "kind=bounce; verdict=unknown; signals=null_sender,dsn");
}

TEST(Policy, InternalFailureNeverFiveHundred) {
  auto d = internal_failure("store down\r\n550 evil", false);
  EXPECT_EQ(d.action, Action::kTempfail);
  EXPECT_EQ(d.reply.code, "451");
  EXPECT_EQ(d.reply.status, "4.3.0");
  EXPECT_EQ(d.reason.find('\n'), std::string::npos);
  auto open = internal_failure("x", true);
  EXPECT_EQ(open.action, Action::kAccept);
}

TEST(Policy, SanitizeReplyText) {
  EXPECT_EQ(sanitize_reply_text("a\r\nb\tc\x01\xff"), "a b c");
  EXPECT_EQ(sanitize_reply_text(std::string(2000, 'x')).size(), kMaxReplyText);
}

}  // namespace
}  // namespace backstop::policy
