#include "outbound/gate.h"

#include <gtest/gtest.h>

namespace backstop::outbound {
namespace {

mail::HeaderList headers(std::string_view text) { return mail::parse_header_section(text).headers; }

TEST(Facts, FromHeadersAndEnvelope) {
  std::vector<std::string> rcpts{"alice@example.org", "bob@example.org"};
  auto f = facts_of(headers("From: x@y\r\nTo: Alice <ALICE@example.org>\r\nCc: other@z\r\n\r\n"), "x@y", rcpts);
  EXPECT_FALSE(f.list || f.bulk || f.auto_submitted || f.system_sender || f.spam);
  EXPECT_EQ(f.personal, std::vector<std::string>{"alice@example.org"}) << "bob was Bcc'd or a list member";
  auto l = facts_of(headers("List-Id: <x.lists>\r\nPrecedence: Bulk\r\nAuto-Submitted: auto-generated\r\n"
                            "X-Spam-Flag: YES\r\nTo: alice@example.org\r\n\r\n"),
                    "owner-x@lists.example", rcpts);
  EXPECT_TRUE(l.list && l.bulk && l.auto_submitted && l.system_sender && l.spam);
  EXPECT_FALSE(facts_of(headers("Auto-Submitted: no\r\n\r\n"), "a@b", rcpts).auto_submitted);
  EXPECT_TRUE(facts_of(headers("X-Auto-Response-Suppress: OOF, DR\r\n\r\n"), "a@b", rcpts).auto_submitted);
  EXPECT_TRUE(facts_of(headers("\r\n"), "", rcpts).system_sender) << "null return path";
  for (const char* s : {"MAILER-DAEMON@x", "list-request@x", "owner-list@x", "listserv@x", "x-bounces@x"}) {
    EXPECT_TRUE(is_system_address(s)) << s;
  }
  EXPECT_FALSE(is_system_address("requester@x"));
}

TEST(Facts, EncodeRoundTripAndDamage) {
  InboundFacts f;
  f.list = f.spam = f.dnsbl = true;
  f.personal = {"a@x", "b@y"};
  auto d = decode_facts(encode(f));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, f);
  EXPECT_EQ(*decode_facts(encode(InboundFacts{})), InboundFacts{});
  for (const char* bad : {"", "1", "2|", "1Q|", "1|a@x,,b@y", "1|,"}) EXPECT_FALSE(decode_facts(bad)) << bad;
}

TEST(References, InReplyToFirstThenNewestReferences) {
  auto ids = referenced_ids(headers("In-Reply-To: <c@x>\r\nReferences: <a@x> <b@x>\r\n <c@x>\r\n\r\n"));
  EXPECT_EQ(ids, (std::vector<std::string>{"c@x", "b@x", "a@x"}));
  EXPECT_TRUE(referenced_ids(headers("Subject: x\r\n\r\n")).empty());
}

GateInput reply(bool correspondent) {
  GateInput in;
  in.kind = AutoKind::kAutoreply;
  in.user = "alice@example.org";
  in.recipient = "bob@elsewhere.example";
  in.correspondent = correspondent;
  return in;
}

TEST(Gate, AutoreplyOnlyToCorrespondentsAndNeverToAutomatedOrLists) {
  EXPECT_EQ(gate(reply(true)).action, GateAction::kPass);
  EXPECT_TRUE(gate(reply(true)).rate_limited_kind);
  auto d = gate(reply(false));
  EXPECT_EQ(d.action, GateAction::kRefuse);
  EXPECT_EQ(d.reason, "stranger");
  EXPECT_NE(d.text.find("not a known correspondent"), std::string::npos);
  auto any = reply(false);
  any.any_sender = true;
  EXPECT_EQ(gate(any).action, GateAction::kPass);
  auto local = reply(false);
  local.recipient_local = true;
  EXPECT_EQ(gate(local).action, GateAction::kPass);
  auto sys = reply(true);
  sys.recipient = "list-request@elsewhere.example";
  EXPECT_EQ(gate(sys).reason, "system_recipient");

  InboundFacts o;
  o.personal = {"alice@example.org"};
  auto with = reply(true);
  with.original = o;
  EXPECT_EQ(gate(with).action, GateAction::kPass);
  auto check = [&](auto mutate, const char* reason) {
    auto in = with;
    mutate(*in.original);
    auto g = gate(in);
    EXPECT_EQ(g.action, GateAction::kRefuse) << reason;
    EXPECT_EQ(g.reason, reason);
  };
  check([](InboundFacts& f) { f.list = true; }, "list");
  check([](InboundFacts& f) { f.bulk = true; }, "bulk");
  check([](InboundFacts& f) { f.auto_submitted = true; }, "auto_submitted");
  check([](InboundFacts& f) { f.system_sender = true; }, "system_sender");
  check([](InboundFacts& f) { f.spam = true; }, "spam");
  check([](InboundFacts& f) { f.dnsbl = true; }, "dnsbl");
  check([](InboundFacts& f) { f.personal.clear(); }, "not_personal");
}

TEST(Gate, ChallengesVirusNoticesAndConfirmations) {
  GateInput c = reply(true);
  c.kind = AutoKind::kChallenge;
  EXPECT_EQ(gate(c).action, GateAction::kRefuse);
  c.challenge_allowed = true;
  EXPECT_EQ(gate(c).action, GateAction::kPass);
  GateInput v = reply(true);
  v.kind = AutoKind::kVirusNotice;
  EXPECT_EQ(gate(v).action, GateAction::kDiscard);
  v.recipient_local = true;
  EXPECT_EQ(gate(v).action, GateAction::kPass);
  GateInput s = reply(false);
  s.kind = AutoKind::kSubscriptionConfirm;
  EXPECT_EQ(gate(s).action, GateAction::kRefuse);
  s.list_host = true;
  EXPECT_EQ(gate(s).action, GateAction::kPass);
  EXPECT_FALSE(gate(s).rate_limited_kind);
}

}  // namespace
}  // namespace backstop::outbound
