#include "correlate/correlate.h"

#include <gtest/gtest.h>

#include <ctime>
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

mail::Received hop(std::string_view text) {
  auto r = mail::parse_received(text);
  EXPECT_TRUE(r) << text;
  return r.value_or(mail::Received{});
}

const std::string kRemoteTop =
    "from mx1.example.org (mx1.example.org [198.51.100.9]) by mx.remote.example (Postfix) with ESMTPS id 4R1; d";
const std::string kBotTop = "from mx1.example.org (unknown [203.0.113.9]) by mx.remote.example (Postfix) with ESMTP id 4R2; d";
const std::string kOurHop =
    "from desk.example.org (desk.example.org [192.0.2.7]) by mx1.example.org (Postfix) with ESMTPSA id 4K1; d";

std::string evidence_of(const Outcome& o, std::string_view source) {
  for (const auto& e : o.evidence) {
    if (e.source == source) return std::string(verdict_name(e.points_to)) + ": " + e.detail;
  }
  return "";
}

TEST_F(CorrelateTest, RelayTopReceiptFromOurRelayIsOurs) {
  auto c = make({"mx1.example.org", "smtp*.example.com", "198.51.100.0/24"});
  auto v = bounce("");
  v.refs.original_hops = {hop(kRemoteTop), hop(kOurHop)};
  auto o = c.correlate(v, env_);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kOurs) << evidence_of(*o, "relay");
  // Only the top receipt (a return cut after its first header line).
  v.refs.original_hops = {hop("from mx1.example.org (unknown [198.51.100.9])")};
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kOurs);
  // By reverse DNS when the IP is not among relays.ours.
  v.refs.original_hops = {hop("from x (smtp3.example.com [203.0.113.9]) by mx.remote.example (Postfix) with ESMTP id 4; d")};
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kOurs);
  // No relays configured: the chain proves nothing.
  EXPECT_EQ(make().correlate(v, env_)->verdict, Verdict::kUnknown);
  EXPECT_TRUE(make().correlate(v, env_)->evidence.empty());
}

TEST_F(CorrelateTest, ForgedHopBelowAForeignReceiptIsNotCounted) {
  auto c = make({"mx1.example.org", "198.51.100.0/24"});
  auto v = bounce("forged@example.org");
  // The remote received it from a bot that said HELO mx1.example.org; the
  // spammer wrote a line "by mx1.example.org (Postfix)" below it.
  v.refs.original_hops = {hop(kBotTop), hop(kOurHop)};
  auto o = c.correlate(v, env_);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kUnknown) << "the ledger is empty (warming up): nothing decides";
  EXPECT_TRUE(evidence_of(*o, "relay").starts_with("unknown: hop 2 names our relay mx1.example.org"))
      << evidence_of(*o, "relay");
  // After the warm-up the ledger miss outweighs the inconsistent relay match.
  record("other@example.org", kT0 - 10 * kDay);
  o = c.correlate(v, env_);
  EXPECT_EQ(o->verdict, Verdict::kNotOurs) << evidence_of(*o, "relay");
  EXPECT_TRUE(evidence_of(*o, "relay").starts_with("unknown: hop 2 names our relay mx1.example.org, but the receipt above"))
      << evidence_of(*o, "relay");
  // Only the bot's HELO names us.
  v.refs.original_hops = {hop(kBotTop)};
  EXPECT_NE(evidence_of(*c.correlate(v, env_), "relay").find("only its HELO name is ours"), std::string::npos);
  // Two forged lines that fake the link: the top receipt is still the bot's.
  v.refs.original_hops = {
      hop("from bot (unknown [203.0.113.9]) by mx.remote.example (Postfix) with ESMTP id 4R3; d"),
      hop("from mx1.example.org (mx1.example.org [198.51.100.9]) by relay.forger.example (Postfix) with ESMTP id 4; d"),
      hop(kOurHop)};
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kNotOurs);
}

TEST_F(CorrelateTest, OwnHopAtTheTopCountsInOurFormatOnly) {
  auto c = make({"mx1.example.org"});
  auto v = bounce("");
  v.refs.original_hops = {hop(kOurHop)};
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kOurs) << "no receipt above it, no Reporting-MTA";
  v.refs.reporting_mta = "mx1.example.org";
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kOurs) << "our relay reported it";
  v.refs.reporting_mta = "mx.remote.example";
  auto o = c.correlate(v, env_);
  EXPECT_EQ(o->verdict, Verdict::kUnknown) << "a remote reporter that wrote no receipt of its own";
  EXPECT_NE(evidence_of(*o, "relay").find("reported by mx.remote.example"), std::string::npos) << evidence_of(*o, "relay");
  v.refs.reporting_mta.clear();
  // Postfix pickup writes no "from" and no "with".
  v.refs.original_hops = {hop("by mx1.example.org (Postfix, from userid 1000) id 4P1; d")};
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kOurs);
  // Another MTA's format under our name.
  v.refs.original_hops = {hop("from d (d [192.0.2.7]) by mx1.example.org with esmtp (Exim 4.96) id 1a-2b-3c; d")};
  o = c.correlate(v, env_);
  EXPECT_EQ(o->verdict, Verdict::kUnknown);
  EXPECT_NE(evidence_of(*o, "relay").find("not in our relays' Received format"), std::string::npos);
  Settings s;
  s.local_domains = {"example.org"};
  s.relays = *RelaySet::parse({"mx1.example.org"});
  s.received_format = ReceivedFormat::kExim;
  Correlator exim(s, store_.get(), &tags_, &clock_);
  EXPECT_EQ(exim.correlate(v, env_)->verdict, Verdict::kOurs);
  s.received_format = ReceivedFormat::kAny;
  v.refs.original_hops = {hop("from d (d [192.0.2.7]) by mx1.example.org (CommuniGate Pro SMTP 5.1) with ESMTPS id 1; d")};
  EXPECT_EQ(Correlator(s, store_.get(), &tags_, &clock_).correlate(v, env_)->verdict, Verdict::kOurs);
}

TEST_F(CorrelateTest, ChainThatNeverNamesOurRelaysIsNotOurs) {
  auto c = make({"mx1.example.org", "198.51.100.0/24"});
  auto v = bounce("");
  v.refs.original_hops = {hop("from a.example (a.example [203.0.113.5]) by b.example (Postfix) with ESMTP id 1; d")};
  auto o = c.correlate(v, env_);
  EXPECT_EQ(o->verdict, Verdict::kNotOurs);
  EXPECT_TRUE(evidence_of(*o, "relay").starts_with("not_ours: the original's Received chain (1 hops)"));
}

TEST(ReceivedFormat, NamesAndNearMisses) {
  ReceivedFormat f{};
  EXPECT_TRUE(parse_received_format("postfix", &f));
  EXPECT_EQ(f, ReceivedFormat::kPostfix);
  EXPECT_TRUE(parse_received_format("any", &f));
  EXPECT_FALSE(parse_received_format("Postfix", &f));
  EXPECT_FALSE(parse_received_format("", &f));
  auto p = [](std::string_view t) { return in_format(*mail::parse_received(t), ReceivedFormat::kPostfix); };
  EXPECT_TRUE(p("from a (a [192.0.2.1]) by m.example (Postfix) with ESMTPSA id 4ABC; d"));
  EXPECT_TRUE(p("from a (a [192.0.2.1]) by m.example (Postfix) with UTF8SMTPS id 4ABC; d"));
  EXPECT_FALSE(p("from a (a [192.0.2.1]) by m.example with ESMTPSA id 4ABC; d")) << "no (Postfix)";
  EXPECT_FALSE(p("from a (a [192.0.2.1]) by m.example (Postfix) with HTTP id 4ABC; d"));
  EXPECT_FALSE(p("from a (a [192.0.2.1]) by m.example (Postfix) with ESMTP; d")) << "no queue id";
  EXPECT_FALSE(p("from a (a [192.0.2.1]) by m.example (Postfix) with ESMTP id 4A/B; d"));
  auto s = [](std::string_view t) { return in_format(*mail::parse_received(t), ReceivedFormat::kSendmail); };
  EXPECT_TRUE(s("from a (a [192.0.2.1]) by m.example (8.17.1/8.17.1) with ESMTP id 2BAbc123; d"));
  EXPECT_FALSE(s("from a (a [192.0.2.1]) by m.example (Postfix) with ESMTP id 2BAbc123; d"));
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
  // A quoted forged line below the remote's own receipt.
  m.text =
      "> Received: from bot (unknown [203.0.113.5]) by mx.remote.example (Postfix) with ESMTP id 9; d\n"
      "> Received: from c (c [192.0.2.1]) by relay.fdn.example (Postfix) with ESMTP id 1234; d\n";
  EXPECT_EQ(c.correlate(v, env_, &m)->verdict, Verdict::kUnknown);
}

// ---- ENVID ----

TEST_F(CorrelateTest, EnvidInTheLedgerIsOursInEitherForm) {
  ASSERT_TRUE(store_->ledger_put("sent@example.org", {kT0 - kDay, "alice@example.org", {"bob@remote.example"}, "Q+1 a"}));
  auto c = make();
  auto v = bounce("");
  for (std::string form : {"Q+2B1+20a", "Q+1 a", " Q+2B1+20a "}) {  // Exim writes xtext, Postfix decoded
    v.refs.original_envelope_id = form;
    auto o = c.correlate(v, env_);
    ASSERT_TRUE(o);
    EXPECT_EQ(o->verdict, Verdict::kOurs) << form;
    EXPECT_TRUE(evidence_of(*o, "envid").starts_with("ours: Original-Envelope-Id")) << evidence_of(*o, "envid");
  }
  v.refs.original_envelope_id = "q+2B1+20a";
  auto o = c.correlate(v, env_);
  EXPECT_EQ(o->verdict, Verdict::kUnknown) << "compared byte for byte";
  EXPECT_TRUE(evidence_of(*o, "envid").starts_with("unknown: Original-Envelope-Id")) << evidence_of(*o, "envid");
  v.refs.original_envelope_id = std::string(200, 'x');
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kUnknown) << "over the limit: not looked up";
}

TEST_F(CorrelateTest, EnvidMissAfterWarmupDecidesNothing) {
  record("other@example.org", kT0 - 10 * kDay);
  auto v = bounce("");
  v.refs.original_envelope_id = "NOT-OURS-1";
  auto o = make().correlate(v, env_);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kUnknown);
}

// ---- recipient and time ----

std::string rfc_date(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

classify::Verdict stripped_dsn(std::string final_rcpt, std::int64_t arrival, std::string orig_rcpt = "") {
  classify::Verdict v;
  v.kind = Kind::kBounce;
  v.refs.arrival_date = rfc_date(arrival);
  classify::DsnRecipient r;
  r.final_recipient = std::move(final_rcpt);
  r.original_recipient = std::move(orig_rcpt);
  r.action = "failed";
  v.refs.recipients.push_back(r);
  return v;
}

TEST_F(CorrelateTest, RecipientSentBeforeArrivalIsOurs) {
  record("warm@example.org", kT0 - 20 * kDay);
  record("sent@example.org", kT0 - 3600);  // alice -> bob@remote.example
  auto c = make();
  auto o = c.correlate(stripped_dsn("Bob@Remote.Example", kT0 - 3500), env_);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kOurs);
  EXPECT_TRUE(evidence_of(*o, "recipient").starts_with("ours: message-id <sent@example.org> from alice@example.org"))
      << evidence_of(*o, "recipient");
  // Original-Recipient names it while Final-Recipient is a forwarding target.
  EXPECT_EQ(c.correlate(stripped_dsn("bob@elsewhere.example", kT0 - 3500, "bob@remote.example"), env_)->verdict,
            Verdict::kOurs);
  // The window's edges: queued by us for up to the window, clocks skewed.
  const std::int64_t w = Settings{}.recipient_window_seconds;
  EXPECT_EQ(c.correlate(stripped_dsn("bob@remote.example", kT0 - 3600 + w + kClockSkewSeconds), env_)->verdict,
            Verdict::kOurs);
  EXPECT_EQ(c.correlate(stripped_dsn("bob@remote.example", kT0 - 3600 + w + kClockSkewSeconds + 1), env_)->verdict,
            Verdict::kUnknown);
  EXPECT_EQ(c.correlate(stripped_dsn("bob@remote.example", kT0 - 3600 - kClockSkewSeconds), env_)->verdict,
            Verdict::kOurs);
  EXPECT_EQ(c.correlate(stripped_dsn("bob@remote.example", kT0 - 3600 - kClockSkewSeconds - 1), env_)->verdict,
            Verdict::kUnknown)
      << "arrived before we sent it";
  // A BATV-tagged envelope recipient is the untagged sender.
  mail::Envelope tagged{.known = true, .mail_from = "", .rcpts = {"prvs=1234abcdef=Alice@example.org"}, .client_ip = ""};
  EXPECT_EQ(c.correlate(stripped_dsn("bob@remote.example", kT0 - 3500), tagged)->verdict, Verdict::kOurs);
}

TEST_F(CorrelateTest, RecipientOfAnotherSenderOrTimeIsWeakAgainstOnly) {
  record("warm@example.org", kT0 - 20 * kDay);
  record("sent@example.org", kT0 - 3600);
  auto c = make();
  mail::Envelope carol{.known = true, .mail_from = "", .rcpts = {"carol@example.org"}, .client_ip = ""};
  auto o = c.correlate(stripped_dsn("bob@remote.example", kT0 - 3500), carol);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->verdict, Verdict::kUnknown) << "a recipient miss never decides alone";
  EXPECT_NE(evidence_of(*o, "recipient").find("1 from other senders of ours"), std::string::npos)
      << evidence_of(*o, "recipient");
  o = c.correlate(stripped_dsn("nobody@remote.example", kT0 - 3500), env_);
  EXPECT_EQ(o->verdict, Verdict::kUnknown);
  EXPECT_NE(evidence_of(*o, "recipient").find("weak evidence against"), std::string::npos) << evidence_of(*o, "recipient");
  // With a Message-ID miss after the warm-up, the ledger decides.
  auto v = stripped_dsn("nobody@remote.example", kT0 - 3500);
  v.refs.message_id = "forged@example.org";
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kNotOurs);
}

TEST_F(CorrelateTest, RecipientWindowFromDateOrNowAndWarmup) {
  record("sent@example.org", kT0 - 8 * kDay);
  auto c = make({}, 0);
  const std::int64_t w = Settings{}.recipient_window_seconds;
  // No Arrival-Date: the DSN's Date, with twice the window (both queues).
  auto v = stripped_dsn("bob@remote.example", 0);
  v.refs.arrival_date.clear();
  v.refs.response_date = rfc_date(kT0 - 8 * kDay + 2 * w);
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kOurs);
  v.refs.response_date = rfc_date(kT0 - 8 * kDay + 2 * w + kClockSkewSeconds + 1);
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kUnknown);
  // Neither date: its arrival now.
  v.refs.response_date = "not a date";
  clock_.set(kT0 - 8 * kDay + 60);
  EXPECT_EQ(c.correlate(v, env_)->verdict, Verdict::kOurs);
  clock_.set(kT0);
  // A ledger younger than the window cannot say a recipient is missing.
  auto young = store::make_memory_store({&clock_});
  ASSERT_TRUE(young->ledger_put("x@example.org", {kT0 - kDay, "alice@example.org", {"carol@remote.example"}}));
  Settings s;
  s.local_domains = {"example.org"};
  s.warmup_seconds = 0;
  Correlator yc(s, young.get(), nullptr, &clock_);
  auto o = yc.correlate(stripped_dsn("bob@remote.example", kT0 - 60), env_);
  EXPECT_EQ(o->verdict, Verdict::kUnknown);
  EXPECT_TRUE(evidence_of(*o, "warmup").starts_with("unknown: no message to bob@remote.example"))
      << evidence_of(*o, "warmup");
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

// plan() + conclude() with the store read by the caller (the milter
// loop's way) judge as correlate() does; a failed or misshapen read is
// kUnavailable, never a verdict.
TEST_F(CorrelateTest, PlanAndConcludeJudgeAsCorrelate) {
  record("warm@example.org", kT0 - 20 * kDay);
  record("sent@example.org", kT0 - 3600);
  ASSERT_TRUE(store_->correspondent_record("alice@example.org", "responder@remote.example", kT0 - 60));
  auto c = make();
  std::vector<classify::Verdict> cases = {bounce("sent@example.org"), bounce("never@example.org"),
                                          stripped_dsn("bob@remote.example", kT0 - 3500),
                                          stripped_dsn("nobody@remote.example", kT0 - 3500)};
  classify::Verdict ooo;
  ooo.kind = Kind::kAutoreply;
  cases.push_back(ooo);
  mail::Envelope from_responder = env_;
  from_responder.mail_from = "responder@remote.example";
  for (const auto& env : {env_, from_responder}) {
    for (const auto& v : cases) {
      auto whole = c.correlate(v, env);
      ASSERT_TRUE(whole);
      auto p = c.plan(v, env);
      if (!p.reads()) {
        auto alone = c.conclude(p, store::ReadBatchResult{}, v, env);
        ASSERT_TRUE(alone);
        EXPECT_EQ(alone->verdict, whole->verdict);
        continue;
      }
      auto halves = c.conclude(p, store_->read_batch(p.batch), v, env);
      ASSERT_TRUE(halves);
      EXPECT_EQ(halves->verdict, whole->verdict);
      ASSERT_EQ(halves->evidence.size(), whole->evidence.size());
      for (std::size_t i = 0; i < whole->evidence.size(); ++i) {
        EXPECT_EQ(halves->evidence[i].source, whole->evidence[i].source);
        EXPECT_EQ(halves->evidence[i].detail, whole->evidence[i].detail);
      }
      auto failed = c.conclude(p, fail(Code::kUnavailable, "redis: timed out"), v, env);
      ASSERT_FALSE(failed);
      EXPECT_EQ(failed.error().code(), Code::kUnavailable);
      auto misshapen = c.conclude(p, store::ReadBatchResult{}, v, env);
      ASSERT_FALSE(misshapen);
      EXPECT_EQ(misshapen.error().code(), Code::kUnavailable);
    }
  }
  // Nothing to read for kind none; BATV evidence comes with the plan.
  EXPECT_FALSE(c.plan(classify::Verdict{}, env_).reads());
  tags_.status["alice@example.org"] = TagStatus::kValid;
  auto p = c.plan(bounce(), env_);
  ASSERT_FALSE(p.partial.evidence.empty());
  EXPECT_EQ(p.partial.evidence.front().source, "batv");
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
