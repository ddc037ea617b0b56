#include "dnsbl/trap.h"

#include <gtest/gtest.h>

#include "mail/message.h"

namespace backstop::dnsbl {
namespace {

const classify::Classifier& builtin() {
  static const classify::Classifier* c = [] {
    auto rules = classify::builtin_rules();
    BACKSTOP_INVARIANT(rules.has_value());
    return new classify::Classifier(*rules);
  }();
  return *c;
}

// A bounce delivered to trap@trap.example: our MX (10.0.0.5, in relays.ours)
// handed it to the trap box; it came from 198.51.100.23.
const char kTrappedBounce[] =
    "Received: from mx1.trap.example (mx1.trap.example [10.0.0.5])\n"
    "\tby box.trap.example (Postfix) with ESMTP id B2; Mon, 2 Nov 2026 10:00:02 +0000\n"
    "Received: from bouncer.example.net (bouncer.example.net [198.51.100.23])\n"
    "\tby mx1.trap.example (Postfix) with ESMTP id A1\n"
    "\tfor <trap@trap.example>; Mon, 2 Nov 2026 10:00:01 +0000\n"
    "Received: from spammer.invalid (unknown [203.0.113.99])\n"
    "\tby bouncer.example.net with SMTP; Mon, 2 Nov 2026 09:00:00 +0000\n"
    "Return-Path: <>\n"
    "Message-ID: <bounce-77@bouncer.example.net>\n"
    "From: MAILER-DAEMON@bouncer.example.net (Mail Delivery System)\n"
    "To: trap@trap.example\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "Auto-Submitted: auto-replied\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\n"
    "\n"
    "--B1\n"
    "Content-Type: text/plain\n"
    "\n"
    "This is the mail system at host bouncer.example.net.\n"
    "\n"
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients.\n"
    "\n"
    "--B1\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; bouncer.example.net\n"
    "\n"
    "Final-Recipient: rfc822; nobody@example.net\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address rejected\n"
    "\n"
    "--B1--\n";

const char kTrappedSpam[] =
    "Received: from mx1.trap.example (mx1.trap.example [10.0.0.5])\n"
    "\tby box.trap.example (Postfix) with ESMTP id B3; Mon, 2 Nov 2026 10:00:02 +0000\n"
    "Received: from spammer.invalid (unknown [203.0.113.99])\n"
    "\tby mx1.trap.example (Postfix) with ESMTP id A2; Mon, 2 Nov 2026 10:00:01 +0000\n"
    "Message-ID: <spam-1@spammer.invalid>\n"
    "From: \"Best Deals\" <deals@spammer.invalid>\n"
    "To: trap@trap.example\n"
    "Subject: Cheap watches\n"
    "\n"
    "Buy cheap watches now.\n";

class TrapTest : public ::testing::Test {
 protected:
  TrapTest()
      : store_(store::make_memory_store({&clock})),
        listings_(*store_, clock, {}, [](std::string_view) {}),
        trap_(listings_, *store_, builtin(), *parse_cidr_list("10.0.0.0/8, 2001:db8:ffff::/48")) {}

  ManualClock clock{1'793'600'000};
  std::unique_ptr<store::Store> store_;
  Listings listings_;
  TrapIngest trap_;
};

TEST_F(TrapTest, BounceIsAttributedToTheFirstHopOutsideOurRelays) {
  auto out = trap_.ingest(kTrappedBounce);
  ASSERT_TRUE(out) << out.error().to_string();
  EXPECT_EQ(out->kind, classify::Kind::kBounce);
  EXPECT_EQ(out->result, TrapResult::kRecorded);
  EXPECT_EQ(out->ip, "198.51.100.23");
  EXPECT_EQ(out->message_id, "bounce-77@bouncer.example.net");
  auto active = listings_.active();
  ASSERT_TRUE(active);
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ(active->front().ip, "198.51.100.23");
  EXPECT_EQ(active->front().last_evidence.kind, "bounce");
  EXPECT_EQ(active->front().last_evidence.message_id, "bounce-77@bouncer.example.net");
}

TEST_F(TrapTest, ConnectingIpWinsWhenKnown) {
  mail::Envelope env;
  env.known = true;
  env.client_ip = "192.0.2.44";
  auto out = trap_.ingest(kTrappedBounce, env);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->ip, "192.0.2.44");
}

TEST_F(TrapTest, PlainSpamIsCountedButNeverListed) {
  auto out = trap_.ingest(kTrappedSpam);
  ASSERT_TRUE(out) << out.error().to_string();
  EXPECT_EQ(out->kind, classify::Kind::kNone);
  EXPECT_EQ(out->result, TrapResult::kSpam);
  EXPECT_TRUE(listings_.all()->empty());
  EXPECT_EQ(*store_->counter_get(kTrapSpamCounter), 1);
}

TEST_F(TrapTest, BounceWithOnlyOurHopsIsUnattributed) {
  std::string raw = kTrappedBounce;
  auto trap = TrapIngest(listings_, *store_, builtin(), *parse_cidr_list("0.0.0.0/0"));
  auto out = trap.ingest(raw);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->result, TrapResult::kUnattributed);
  EXPECT_TRUE(listings_.all()->empty());
}

TEST_F(TrapTest, RecordedHitKeepsRedactedEvidence) {
  Redactor redactor({}, {"trap.example"});
  TrapIngest trap(listings_, *store_, builtin(), *parse_cidr_list("10.0.0.0/8"), {&redactor, 90});
  for (int i = 0; i < 7; ++i) {
    clock.advance(60);
    ASSERT_TRUE(trap.ingest(kTrappedBounce));
  }
  auto ev = load_evidence(*store_, "198.51.100.23");
  ASSERT_TRUE(ev) << ev.error().to_string();
  ASSERT_EQ(ev->size(), kMaxEvidencePerIp) << "bounded in count";
  EXPECT_EQ(ev->front().time, clock.now_unix()) << "newest first";
  EXPECT_EQ(ev->front().kind, "bounce");
  EXPECT_NE(ev->front().headers.find("Message-ID: <bounce-77@bouncer.example.net>"), std::string::npos);
  EXPECT_NE(ev->front().headers.find("To: trap@[trap domain]"), std::string::npos);
  EXPECT_EQ(ev->front().headers.find("trap.example"), std::string::npos);
  // The record expires with the longest listing plus the retention.
  clock.advance(longest_listing_seconds(listings_.policy()) + 90 * 86400);
  EXPECT_TRUE(load_evidence(*store_, "198.51.100.23")->empty());
  // Spam keeps none.
  ASSERT_TRUE(trap.ingest(kTrappedSpam));
  EXPECT_TRUE(load_evidence(*store_, "203.0.113.99")->empty());
}

TEST(TrapMatcher, AddressesAndDomains) {
  TrapMatcher m({"Trap@Example.org", "<t2@example.net>"}, {"traps.example.com", ".spamtrap.example"});
  EXPECT_TRUE(m.matches("trap@example.org"));
  EXPECT_TRUE(m.matches("<TRAP@example.ORG>"));
  EXPECT_TRUE(m.matches("t2@example.net"));
  EXPECT_FALSE(m.matches("alice@example.org"));
  EXPECT_TRUE(m.matches("anyone@traps.example.com"));
  EXPECT_FALSE(m.matches("anyone@sub.traps.example.com"));
  EXPECT_TRUE(m.matches("x@spamtrap.example"));
  EXPECT_TRUE(m.matches("x@a.b.spamtrap.example"));
  EXPECT_FALSE(m.matches("x@notspamtrap.example"));
  EXPECT_FALSE(m.matches("postmaster"));
  EXPECT_TRUE(TrapMatcher({}, {}).empty());
}

TEST(DeliveringIp, SkipsLoopbackOursAndUnparsable) {
  auto m = mail::parse_message(
      "Received: from localhost (localhost [127.0.0.1]) by box with ESMTP; Mon, 2 Nov 2026 10:00:03 +0000\n"
      "Received: by box.trap.example (Postfix, from userid 0); Mon, 2 Nov 2026 10:00:02 +0000\n"
      "Received: from a.example (a.example [IPv6:2001:db8:ffff::5]) by box; Mon, 2 Nov 2026 10:00:02 +0000\n"
      "Received: from b.example (b.example [IPv6:2001:db8:1::9]) by mx; Mon, 2 Nov 2026 10:00:01 +0000\n"
      "Subject: x\n\nbody\n");
  ASSERT_TRUE(m);
  auto ours = parse_cidr_list("2001:db8:ffff::/48");
  ASSERT_TRUE(ours);
  EXPECT_EQ(delivering_ip(m->headers, *ours), "2001:db8:1::9");
  EXPECT_FALSE(parse_cidr_list("10.0.0.0/8,bad"));
  EXPECT_EQ(parse_cidr_list(" 10.0.0.0/8 ,, 192.0.2.1 ")->size(), 2u);
}

}  // namespace
}  // namespace backstop::dnsbl
