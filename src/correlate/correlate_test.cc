#include "correlate/correlate.h"

#include <gtest/gtest.h>

#include <map>

namespace backstop::correlate {
namespace {

using classify::Kind;

class FakeTags : public TagVerifier {
 public:
  std::map<std::string, TagStatus> status;
  TagStatus verify(std::string_view rcpt) const override {
    auto it = status.find(std::string(rcpt));
    return it == status.end() ? TagStatus::kNone : it->second;
  }
};

constexpr std::int64_t kDay = 86400;
constexpr std::int64_t kT0 = 1'800'000'000;

class CorrelateTest : public ::testing::Test {
 protected:
  CorrelateTest() : clock_(kT0), store_(store::make_memory_store({&clock_})) {}

  Correlator make(std::vector<std::string> relays = {}, std::int64_t warmup = 7 * kDay) {
    Settings s;
    s.local_domains = {"example.org", ".example.net"};
    auto r = RelaySet::parse(relays);
    EXPECT_TRUE(r);
    s.relays = *r;
    s.warmup_seconds = warmup;
    return Correlator(s, store_.get(), &tags_, &clock_);
  }

  classify::Verdict bounce(std::string id = "orig@example.org") {
    classify::Verdict v;
    v.kind = Kind::kBounce;
    v.refs.message_id = std::move(id);
    return v;
  }

  void record(const std::string& id, std::int64_t when) {
    store::LedgerEntry e{when, "alice@example.org", {"bob@remote.example"}};
    ASSERT_TRUE(store_->ledger_put(id, e));
  }

  ManualClock clock_;
  std::unique_ptr<store::Store> store_;
  FakeTags tags_;
  mail::Envelope env_{.known = true, .mail_from = "", .rcpts = {"alice@example.org"}, .client_ip = "192.0.2.1"};
};

TEST_F(CorrelateTest, NoneIsNotJudged) {
  classify::Verdict v;
  auto o = make().correlate(v, env_);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kUnknown);
  EXPECT_TRUE(o->evidence.empty());
}

TEST_F(CorrelateTest, LedgerHitIsOurs) {
  record("orig@example.org", kT0 - 20 * kDay);
  clock_.set(kT0);
  auto o = make().correlate(bounce(), env_);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kOurs);
  ASSERT_EQ(o->evidence.size(), 1u);
  EXPECT_EQ(o->evidence[0].source, "ledger");
}

TEST_F(CorrelateTest, LedgerMissAfterWarmupIsNotOurs) {
  record("other@example.org", kT0 - 10 * kDay);
  auto o = make().correlate(bounce(), env_);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kNotOurs);
}

TEST_F(CorrelateTest, LedgerMissDuringWarmupIsUnknown) {
  record("other@example.org", kT0 - 2 * kDay);
  auto o = make().correlate(bounce(), env_);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kUnknown);
  ASSERT_EQ(o->evidence.size(), 1u);
  EXPECT_EQ(o->evidence[0].source, "warmup");
  // empty ledger: warming up too
  auto fresh = store::make_memory_store({&clock_});
  Settings s;
  s.local_domains = {"example.org"};
  Correlator c(s, fresh.get(), nullptr, &clock_);
  EXPECT_EQ(c.correlate(bounce(), env_)->verdict, Verdict::kUnknown);
}

TEST_F(CorrelateTest, NoReferenceIsUnknown) {
  record("other@example.org", kT0 - 10 * kDay);
  auto o = make().correlate(bounce(""), env_);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kUnknown);
}

TEST_F(CorrelateTest, InReplyToOfAutoreplyFound) {
  record("sent@example.org", kT0 - 10 * kDay);
  classify::Verdict v;
  v.kind = Kind::kAutoreply;
  v.refs.in_reply_to = {"nope@x"};
  v.refs.references = {"older@x", "sent@example.org"};
  auto o = make().correlate(v, env_);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kOurs);
}

TEST_F(CorrelateTest, BatvOutranksLedgerMiss) {
  record("other@example.org", kT0 - 10 * kDay);
  mail::Envelope env{
      .known = true, .mail_from = "", .rcpts = {"prvs=0123abcdef=alice@example.org"}, .client_ip = "192.0.2.1"};
  tags_.status[env.rcpts[0]] = TagStatus::kValid;
  auto o = make().correlate(bounce(), env);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kOurs);
  tags_.status[env.rcpts[0]] = TagStatus::kInvalid;
  EXPECT_EQ(make().correlate(bounce(), env)->verdict, Verdict::kNotOurs);
  tags_.status[env.rcpts[0]] = TagStatus::kExpired;
  EXPECT_EQ(make().correlate(bounce(), env)->verdict, Verdict::kNotOurs);
}

TEST_F(CorrelateTest, BatvOnlyForLocalRecipients) {
  mail::Envelope env{
      .known = true, .mail_from = "", .rcpts = {"someone@elsewhere.example"}, .client_ip = "192.0.2.1"};
  tags_.status[env.rcpts[0]] = TagStatus::kValid;
  EXPECT_EQ(make().correlate(bounce(""), env)->verdict, Verdict::kUnknown);
}

TEST_F(CorrelateTest, LocalDomains) {
  auto c = make();
  EXPECT_TRUE(c.is_local("a@EXAMPLE.org"));
  EXPECT_FALSE(c.is_local("a@sub.example.org"));
  EXPECT_TRUE(c.is_local("a@mx.example.net"));
  EXPECT_FALSE(c.is_local("a@example.net"));
  EXPECT_FALSE(c.is_local("example.org"));
}

TEST_F(CorrelateTest, RelayChain) {
  auto c = make({"mx1.example.org", "smtp*.example.com", "198.51.100.0/24"});
  auto v = bounce("");
  v.refs.original_received_hosts = {"mx.remote.example", "mx1.example.org"};
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kOurs);
  v.refs.original_received_hosts = {"smtp12.example.com"};
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kOurs);
  v.refs.original_received_hosts = {"mx.remote.example"};
  v.refs.original_received_ips = {"198.51.100.9"};
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kOurs);
  v.refs.original_received_ips = {"203.0.113.9"};
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kNotOurs);
  // no relays configured: the chain proves nothing
  EXPECT_EQ(make().correlate(v, env_)->verdict, Verdict::kUnknown);
}

TEST_F(CorrelateTest, RelayQuotedInline) {
  auto c = make({".fdn.example"});
  mail::Message m;
  m.text =
      "The original message follows:\n"
      "> Received: from client.home.example (client.home.example [203.0.113.5])\n"
      ">\tby relay.fdn.example (Postfix) with ESMTP id 1234\n"
      ">\tfor <x@remote.example>; Mon, 1 Jan 2024 00:00:00 +0000\n";
  auto v = bounce("");
  EXPECT_EQ(c.correlate(v, env_, &m)->verdict, Verdict::kOurs);
  m.text = "Received: from a.example (a.example [203.0.113.5]) by b.example; Mon, 1 Jan 2024\n";
  EXPECT_EQ(c.correlate(v, env_, &m)->verdict, Verdict::kNotOurs);
}

TEST_F(CorrelateTest, KnownCorrespondent) {
  record("other@example.org", kT0 - 10 * kDay);
  ASSERT_TRUE(store_->correspondent_record("alice@example.org", "friend@remote.example", kT0 - kDay));
  classify::Verdict v;
  v.kind = Kind::kAutoreply;
  v.refs.in_reply_to = {"unknown@x"};
  mail::Message m;
  m.headers.mutable_fields().push_back({"From", "Friend <Friend@Remote.example>"});
  auto o = make().correlate(v, env_, &m);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kOurs);
  m.headers.mutable_fields()[0].value = "stranger@remote.example";
  EXPECT_EQ(make().correlate(v, env_, &m)->verdict, Verdict::kNotOurs);
}

TEST(RelaySet, RejectsJunk) {
  EXPECT_FALSE(RelaySet::parse({"bad host"}));
  EXPECT_FALSE(RelaySet::parse({"user@host"}));
  EXPECT_TRUE(RelaySet::parse({"", "  mx.example  "}));
}

TEST(InlineReceived, BoundedAndTolerant) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "Received: from h" + std::to_string(i) + " by x; d\n";
  EXPECT_EQ(inline_received(text).size(), kMaxInlineReceived);
  EXPECT_TRUE(inline_received("Received:\nReceived: \n>>>>\n").empty());
}

}  // namespace
}  // namespace backstop::correlate
