#include "classify/classifier.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>

#include "classify/rules.h"
#include "mail/message.h"

namespace backstop::classify {
namespace {

const Classifier& builtin() {
  static const Classifier* c = [] {
    auto rules = builtin_rules();
    BACKSTOP_INVARIANT(rules.has_value());
    return new Classifier(*rules);
  }();
  return *c;
}

Verdict run(const std::string& raw, const mail::Envelope& env = {}) {
  auto m = mail::parse_message(raw);
  EXPECT_TRUE(m) << m.error().to_string();
  if (!m) return {};
  return builtin().classify(*m, env);
}

bool has_signal(const Verdict& v, std::string_view s) {
  return std::find(v.signals.begin(), v.signals.end(), s) != v.signals.end();
}

std::string dump(const Verdict& v) {
  std::string out = std::string(kind_name(v.kind)) + ":";
  for (const auto& s : v.signals) out += " " + s;
  return out;
}

const char kPostfixDsn[] =
    "Return-Path: <>\n"
    "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
    "To: alice@example.org\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "Auto-Submitted: auto-replied\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\n"
    "\n"
    "--B1\n"
    "Content-Type: text/plain\n"
    "\n"
    "This is the mail system at host mx.example.net.\n"
    "\n"
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients.\n"
    "\n"
    "--B1\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mx.example.net\n"
    "X-Postfix-Sender: rfc822; alice@example.org\n"
    "Original-Envelope-Id: ENV123\n"
    "\n"
    "Final-Recipient: rfc822; bob@example.net\n"
    "Original-Recipient: rfc822;bob@example.net\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected\n"
    "\n"
    "--B1\n"
    "Content-Type: text/rfc822-headers\n"
    "\n"
    "Received: from client.example.org (client.example.org [192.0.2.7])\n"
    "\tby relay.example.org (Postfix) with ESMTP id 1234\n"
    "\tfor <bob@example.net>; Mon, 2 Jan 2023 10:00:00 +0000\n"
    "Message-ID: <orig-1@example.org>\n"
    "From: Alice <alice@example.org>\n"
    "To: bob@example.net\n"
    "Subject: lunch\n"
    "Date: Mon, 2 Jan 2023 10:00:00 +0000\n"
    "\n"
    "--B1--\n";

TEST(Classify, PostfixDsnIsABounceWithReferences) {
  const Verdict v = run(kPostfixDsn);
  EXPECT_EQ(v.kind, Kind::kBounce) << dump(v);
  EXPECT_GT(v.confidence, 0.9);
  EXPECT_TRUE(has_signal(v, "report:delivery-status")) << dump(v);
  EXPECT_TRUE(has_signal(v, "dsn-action:failed")) << dump(v);
  EXPECT_TRUE(has_signal(v, "body-postfix")) << dump(v);
  EXPECT_FALSE(v.feedback_report);
  const References& r = v.refs;
  EXPECT_EQ(r.message_id, "orig-1@example.org");
  EXPECT_EQ(r.subject, "lunch");
  EXPECT_EQ(r.from, "alice@example.org");
  ASSERT_EQ(r.to.size(), 1u);
  EXPECT_EQ(r.to[0], "bob@example.net");
  EXPECT_EQ(r.original_sender, "alice@example.org");
  EXPECT_EQ(r.original_envelope_id, "ENV123");
  EXPECT_EQ(r.reporting_mta, "mx.example.net");
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_EQ(r.recipients[0].final_recipient, "bob@example.net");
  EXPECT_EQ(r.recipients[0].original_recipient, "bob@example.net");
  EXPECT_EQ(r.recipients[0].action, "failed");
  EXPECT_EQ(r.recipients[0].status, "5.1.1");
  EXPECT_NE(r.recipients[0].diagnostic.find("550 5.1.1"), std::string::npos);
  ASSERT_EQ(r.original_received_ips.size(), 1u);
  EXPECT_EQ(r.original_received_ips[0], "192.0.2.7");
  ASSERT_EQ(r.original_received_hosts.size(), 1u);
  EXPECT_EQ(r.original_received_hosts[0], "relay.example.org");
}

// OpenSMTPD 6.8's delay notice (tests/generated/opensmtpd-delay-warning.eml)
// as a relay that keeps only the text part would pass it on: no report part,
// no null Return-Path; its fixed sentence and the subject make it a bounce.
TEST(Classify, OpenSmtpdDelayNoticeTextOnlyIsABounce) {
  const Verdict v = run(
      "From: Mailer Daemon <MAILER-DAEMON@mx.example.org>\n"
      "To: bob@example.net\n"
      "Subject: Delivery status notification: delayed\n"
      "\n"
      "    Hi!\n"
      "\n"
      "    This is the MAILER-DAEMON, please DO NOT REPLY to this email.\n"
      "\n"
      "    A message is delayed for more than 4 hours for the following\n"
      "    list of recipients:\n"
      "\n"
      "dave@example.net: 451 4.4.1 Temporary failure, please try again later\n");
  EXPECT_EQ(v.kind, Kind::kBounce) << dump(v);
  EXPECT_TRUE(has_signal(v, "body-opensmtpd")) << dump(v);
}

TEST(Classify, OpenSmtpdFailureNoticeTextOnlyIsABounce) {
  const Verdict v = run(
      "From: Mailer Daemon <MAILER-DAEMON@mx.example.org>\n"
      "To: bob@example.net\n"
      "Subject: Delivery status notification: failed\n"
      "\n"
      "    An error has occurred while attempting to deliver a message for\n"
      "    the following list of recipients:\n"
      "\n"
      "carol@example.net: 550 5.1.1 User unknown\n");
  EXPECT_EQ(v.kind, Kind::kBounce) << dump(v);
  EXPECT_TRUE(has_signal(v, "body-opensmtpd")) << dump(v);
}

// The sentence quoted by a person asking about it is one target only: no kind.
TEST(Classify, OpenSmtpdSentenceQuotedByAPersonIsNotABounce) {
  const Verdict v = run(
      "From: Carol <carol@example.org>\n"
      "To: admin@example.org\n"
      "Subject: Re: our new mail server\n"
      "\n"
      "Since the move I keep getting this:\n"
      "> An error has occurred while attempting to deliver a message for the following list of recipients:\n"
      "What does it mean?\n");
  EXPECT_TRUE(has_signal(v, "body-opensmtpd")) << dump(v);
  EXPECT_EQ(v.kind, Kind::kNone) << dump(v);
}

TEST(Classify, QmailBounceWithQuotedOriginal) {
  const Verdict v = run(
      "From: MAILER-DAEMON@mail.example.com\n"
      "To: carol@example.org\n"
      "Subject: failure notice\n"
      "\n"
      "Hi. This is the qmail-send program at mail.example.com.\n"
      "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
      "This is a permanent error; I've given up. Sorry it didn't work out.\n"
      "\n"
      "<nobody@example.com>:\n"
      "Sorry, no mailbox here by that name. (#5.1.1)\n"
      "\n"
      "--- Below this line is a copy of the message.\n"
      "\n"
      "Return-Path: <carol@example.org>\n"
      "Received: from unknown (HELO box.example.org) (198.51.100.9)\n"
      "  by mail.example.com with SMTP; 1 Feb 2023 00:00:00 -0000\n"
      "Message-ID: <quoted-7@example.org>\n"
      "Subject: hello there\n"
      "From: carol@example.org\n");
  EXPECT_EQ(v.kind, Kind::kBounce) << dump(v);
  EXPECT_TRUE(has_signal(v, "body-qmail")) << dump(v);
  EXPECT_EQ(v.refs.message_id, "quoted-7@example.org");
  EXPECT_EQ(v.refs.subject, "hello there");
  EXPECT_EQ(v.refs.original_sender, "carol@example.org");
}

TEST(Classify, FrenchExchangeNdr) {
  const Verdict v = run(
      "From: postmaster@example.fr\n"
      "To: dan@example.org\n"
      "Subject: =?utf-8?q?Non_remis=C2=A0=3A_r=C3=A9union?=\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "Content-Transfer-Encoding: 8bit\n"
      "\n"
      "La remise du message aux destinataires suivants a échoué. Le message n'a pas pu être remis.\n");
  EXPECT_EQ(v.kind, Kind::kBounce) << dump(v);
  EXPECT_TRUE(has_signal(v, "subj-fr")) << dump(v);
  EXPECT_TRUE(has_signal(v, "body-fr")) << dump(v);
}

TEST(Classify, VacationReplyIsAnAutoreply) {
  const Verdict v = run(
      "From: Erin <erin@example.net>\n"
      "To: frank@example.org\n"
      "Subject: Out of Office: budget\n"
      "Auto-Submitted: auto-replied\n"
      "In-Reply-To: <budget-1@example.org>\n"
      "References: <thread-0@example.org> <budget-1@example.org>\n"
      "\n"
      "I am currently out of the office with limited access to email.\n");
  EXPECT_EQ(v.kind, Kind::kAutoreply) << dump(v);
  EXPECT_TRUE(has_signal(v, "hdr-auto-submitted-replied")) << dump(v);
  ASSERT_EQ(v.refs.in_reply_to.size(), 1u);
  EXPECT_EQ(v.refs.in_reply_to[0], "budget-1@example.org");
  ASSERT_EQ(v.refs.references.size(), 2u);
  EXPECT_EQ(v.refs.references[0], "thread-0@example.org");
}

TEST(Classify, GermanAbsenceNoticeWithoutHeaders) {
  const Verdict v = run(
      "From: gerd@example.de\n"
      "To: hans@example.org\n"
      "Subject: Abwesenheitsnotiz: Angebot\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "\n"
      "Ich bin bis zum 10. Mai nicht im Büro erreichbar.\n");
  EXPECT_EQ(v.kind, Kind::kAutoreply) << dump(v);
}

TEST(Classify, VirusNotice) {
  const Verdict v = run(
      "From: virus-alert@gw.example.com\n"
      "To: ida@example.org\n"
      "Subject: VIRUS IN YOUR MAIL to jo@example.com\n"
      "\n"
      "Our scanner found a virus (W32/Netsky) in a message sent from your address.\n"
      "The attachment was quarantined.\n");
  EXPECT_EQ(v.kind, Kind::kVirusNotice) << dump(v);
  EXPECT_TRUE(has_signal(v, "subj-virus")) << dump(v);
}

TEST(Classify, BoxTrapperChallenge) {
  const Verdict v = run(
      "From: jack@example.com\n"
      "To: kim@example.org\n"
      "Subject: Your email requires verification verify#abcdef\n"
      "X-Boxtrapper: abcdef\n"
      "Precedence: auto_reply\n"
      "\n"
      "The message you sent requires that you verify that you are a real live human being.\n");
  EXPECT_EQ(v.kind, Kind::kChallenge) << dump(v);
  EXPECT_TRUE(has_signal(v, "hdr-boxtrapper")) << dump(v);
}

TEST(Classify, MailmanSubscriptionConfirmation) {
  const Verdict v = run(
      "From: test-request@lists.example.com\n"
      "To: lee@example.org\n"
      "Subject: confirm 0123456789abcdef0123456789abcdef01234567\n"
      "X-Mailman-Version: 2.1.39\n"
      "X-List-Administrivia: yes\n"
      "\n"
      "Mailing list subscription confirmation notice for mailing list test\n"
      "\n"
      "We have received a request from 203.0.113.5 for subscription of your\n"
      "email address, \"lee@example.org\", to the test@lists.example.com\n"
      "mailing list.  To confirm that you want to be added to this mailing\n"
      "list, simply reply to this message, keeping the Subject: header intact.\n");
  EXPECT_EQ(v.kind, Kind::kSubscriptionConfirm) << dump(v);
  EXPECT_TRUE(has_signal(v, "subj-confirm-hex")) << dump(v);
}

TEST(Classify, ArfReportIsNoneWithFeedbackFlag) {
  const Verdict v = run(
      "From: abuse@isp.example\n"
      "To: abuse@example.org\n"
      "Subject: Abuse report\n"
      "MIME-Version: 1.0\n"
      "Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\n"
      "\n"
      "--F\n"
      "Content-Type: text/plain\n"
      "\n"
      "This is an email abuse report. Delivery failed? No: a complaint.\n"
      "--F\n"
      "Content-Type: message/feedback-report\n"
      "\n"
      "Feedback-Type: abuse\n"
      "User-Agent: Example-FBL/1.0\n"
      "Version: 1\n"
      "\n"
      "--F\n"
      "Content-Type: message/rfc822\n"
      "\n"
      "From: spammer@example.org\n"
      "Subject: buy\n"
      "\n"
      "spam\n"
      "--F--\n");
  EXPECT_EQ(v.kind, Kind::kNone) << dump(v);
  EXPECT_TRUE(v.feedback_report);
  EXPECT_TRUE(has_signal(v, "arf")) << dump(v);
}

TEST(Classify, NonArfComplaintIsAFeedbackReport) {
  const Verdict v = run(
      "From: staff@mail.example\n"
      "To: abuse@example.org\n"
      "Subject: complaint about message from 192.0.2.9\n"
      "Auto-Submitted: auto-generated\n"
      "\n"
      "A user marked a message from your network as junk. Your message was rejected? No.\n");
  EXPECT_EQ(v.kind, Kind::kNone) << dump(v);
  EXPECT_TRUE(v.feedback_report);
  EXPECT_TRUE(has_signal(v, "feedback-hotmail-subject")) << dump(v);
}

TEST(Classify, ListDigestDiscussingBouncesIsNone) {
  const Verdict v = run(
      "From: users-request@lists.example.org\n"
      "To: users@lists.example.org\n"
      "Subject: users Digest, Vol 12, Issue 3\n"
      "List-Id: <users.lists.example.org>\n"
      "List-Unsubscribe: <mailto:users-request@lists.example.org?subject=unsubscribe>\n"
      "Precedence: list\n"
      "\n"
      "Today's Topics:\n"
      "  1. Re: Undeliverable mail after upgrade\n"
      "  2. out of office replies flooding the list\n"
      "\n"
      "Message: 1\n"
      "Subject: Re: Undeliverable mail after upgrade\n"
      "I keep getting 'user unknown' and 550 5.1.1 errors; the message was returned to sender.\n");
  EXPECT_EQ(v.kind, Kind::kNone) << dump(v);
}

TEST(Classify, NewsletterWithUnsubscribeIsNone) {
  const Verdict v = run(
      "From: news@shop.example.com\n"
      "To: mia@example.org\n"
      "Subject: Our spring offers\n"
      "List-Unsubscribe: <https://shop.example.com/u?x=1>\n"
      "Precedence: bulk\n"
      "\n"
      "Great offers inside. You receive this newsletter because you subscribed.\n"
      "To unsubscribe click here. Update your preferences.\n");
  EXPECT_EQ(v.kind, Kind::kNone) << dump(v);
}

TEST(Classify, HamMentioningOutOfOfficeIsNone) {
  const Verdict v = run(
      "From: Nina <nina@example.org>\n"
      "To: omar@example.com\n"
      "Subject: Re: schedule\n"
      "In-Reply-To: <s-1@example.com>\n"
      "\n"
      "Sure. I will be out of the office next week, so let's meet on Monday.\n"
      "Did my last mail bounce? You said it was undeliverable.\n");
  EXPECT_EQ(v.kind, Kind::kNone) << dump(v);
}

TEST(Classify, ReadReceiptIsNone) {
  const Verdict v = run(
      "From: pat@example.com\n"
      "To: quinn@example.org\n"
      "Subject: Read: report\n"
      "Content-Type: multipart/report; report-type=disposition-notification; boundary=\"M\"\n"
      "\n"
      "--M\n"
      "Content-Type: text/plain\n"
      "\n"
      "Your message was read.\n"
      "--M\n"
      "Content-Type: message/disposition-notification\n"
      "\n"
      "Final-Recipient: rfc822; pat@example.com\n"
      "Disposition: manual-action/MDN-sent-manually; displayed\n"
      "--M--\n");
  EXPECT_EQ(v.kind, Kind::kNone) << dump(v);
  EXPECT_TRUE(has_signal(v, "report:disposition-notification")) << dump(v);
}

// A success DSN to a forged sender is backscatter like any other DSN (and the
// corpora label them dsn_bounce); correlation lets through the ones that
// answer our users' own NOTIFY=SUCCESS requests.
TEST(Classify, SuccessDsnIsABounce) {
  const Verdict v = run(
      "From: MAILER-DAEMON@mx.example.net\n"
      "Subject: Successful Mail Delivery Report\n"
      "Content-Type: multipart/report; report-type=delivery-status; boundary=\"S\"\n"
      "\n"
      "--S\n"
      "Content-Type: text/plain\n"
      "\n"
      "Your message was successfully delivered to the destination(s).\n"
      "--S\n"
      "Content-Type: message/delivery-status\n"
      "\n"
      "Reporting-MTA: dns; mx.example.net\n"
      "\n"
      "Final-Recipient: rfc822; rob@example.net\n"
      "Action: delivered\n"
      "Status: 2.0.0\n"
      "--S--\n");
  EXPECT_EQ(v.kind, Kind::kBounce) << dump(v);
  EXPECT_TRUE(has_signal(v, "dsn-success-only")) << dump(v);
}

TEST(Classify, NullSenderTipsAWeakBounce) {
  const std::string raw =
      "From: gateway@example.net\n"
      "Subject: problem with your mail\n"
      "\n"
      "Recipient address unknown: the mailbox does not exist.\n";
  EXPECT_EQ(run(raw).kind, Kind::kNone);
  mail::Envelope env;
  env.known = true;  // MAIL FROM:<>
  const Verdict v = run(raw, env);
  EXPECT_EQ(v.kind, Kind::kBounce) << dump(v);
  EXPECT_TRUE(has_signal(v, "null-sender"));
}

TEST(Classify, OverrideRulesDriveTheVerdict) {
  auto rules = compile_rules("knock header:x-knock challenge 2 /knock knock/\n");
  ASSERT_TRUE(rules);
  const Classifier c(*rules);
  auto m = mail::parse_message("From: x@example.com\nX-Knock: Knock Knock\n\nwho\n");
  ASSERT_TRUE(m);
  const Verdict v = c.classify(*m);
  EXPECT_EQ(v.kind, Kind::kChallenge);
  EXPECT_TRUE(has_signal(v, "knock"));
  auto plain = mail::parse_message(kPostfixDsn);
  ASSERT_TRUE(plain);
  EXPECT_EQ(c.classify(*plain).kind, Kind::kBounce);  // structure is code, not rules
}

TEST(Classify, ConcurrentCallsAgree) {
  auto m = mail::parse_message(kPostfixDsn);
  ASSERT_TRUE(m);
  const Verdict want = builtin().classify(*m);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      int good = 0;
      for (int i = 0; i < 50; ++i) {
        const Verdict v = builtin().classify(*m);
        good += v.kind == want.kind && v.signals == want.signals;
      }
      ok[static_cast<std::size_t>(t)] = good;
    });
  }
  for (auto& th : threads) th.join();
  for (int g : ok) EXPECT_EQ(g, 50);
}

TEST(Classify, DescribeSignalExplainsRulesAndStructure) {
  const Rules& rules = builtin().rules();
  const std::string rule = describe_signal(rules, "subj-returned-mail");
  EXPECT_NE(rule.find("subject /"), std::string::npos) << rule;
  EXPECT_NE(rule.find("bounce +1.00"), std::string::npos) << rule;
  const std::string structure = describe_signal(rules, "report:delivery-status");
  EXPECT_NE(structure.find("structure, bounce +2.00"), std::string::npos) << structure;
  EXPECT_EQ(describe_signal(rules, "no-such-signal"), "unknown signal");
}

TEST(Classify, PathologicalInputsDoNotBreakIt) {
  const std::string big_body(2u << 20, 'a');
  std::string nuls = "Subject: x\n\n";
  nuls.append(std::string("\0\xff\xfe returned mail \0", 20));
  const std::string cases[] = {
      "Subject: \xff\xfe\xc3 undeliverable \xe2\x82\n\n\n",
      "From: <>\nSubject:\n\n",
      "Subject: Mail delivery failed\n\n" + big_body + "\nThis message was created automatically by mail delivery software.\n",
      nuls,
      "Content-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\n\n--x\n"
      "Content-Type: message/delivery-status\n\n\n\nAction:\n--x--\n",
  };
  for (const auto& raw : cases) {
    auto m = mail::parse_message(raw);
    if (!m) continue;
    const Verdict v = builtin().classify(*m);
    EXPECT_GE(v.confidence, 0.0);
    EXPECT_LE(v.confidence, 1.0);
  }
  // The phrase past the scanned prefix of a huge body does not count.
  auto m = mail::parse_message(cases[2]);
  ASSERT_TRUE(m);
  EXPECT_FALSE(has_signal(builtin().classify(*m), "body-exim"));
}

TEST(Kinds, NamesRoundTrip) {
  for (Kind k : {Kind::kNone, Kind::kBounce, Kind::kVirusNotice, Kind::kChallenge,
                 Kind::kSubscriptionConfirm, Kind::kAutoreply}) {
    Kind back = Kind::kNone;
    ASSERT_TRUE(parse_kind(kind_name(k), &back));
    EXPECT_EQ(back, k);
  }
  Kind out = Kind::kBounce;
  EXPECT_FALSE(parse_kind("spam", &out));
  EXPECT_EQ(kind_name(Kind::kSubscriptionConfirm), "subscription_confirm");
}

// The combination rule (docs/rules.md): one phrase never makes a kind,
// whatever its weight; structure, or phrases in two targets, do.
TEST(Classify, OnePhraseAloneIsNotAKind) {
  auto rules = compile_rules(
      "strong-subject subject challenge 3 /knock knock/\n"
      "body-too body challenge 0.5 /who is there/\n"
      "hdr header:x-knock challenge 0.5 exists\n");
  ASSERT_TRUE(rules);
  const Classifier c(*rules);
  auto one = mail::parse_message("From: x@example.com\nSubject: Knock knock\n\nhello\n");
  ASSERT_TRUE(one);
  EXPECT_EQ(c.classify(*one).kind, Kind::kNone) << dump(c.classify(*one));
  auto two = mail::parse_message("From: x@example.com\nSubject: Knock knock\n\nwho is there\n");
  ASSERT_TRUE(two);
  EXPECT_EQ(c.classify(*two).kind, Kind::kChallenge) << dump(c.classify(*two));
  auto structure = mail::parse_message("From: x@example.com\nSubject: Knock knock\nX-Knock: 1\n\nhello\n");
  ASSERT_TRUE(structure);
  EXPECT_EQ(c.classify(*structure).kind, Kind::kChallenge) << dump(c.classify(*structure));
}

TEST(Classify, AutoSubmittedAutoRepliedAloneIsAutoreply) {
  const Verdict v = run(
      "From: ines@example.org\nTo: jon@example.com\nSubject: Ihre Nachricht\n"
      "Auto-Submitted: auto-replied\n\nDanke.\n");
  EXPECT_EQ(v.kind, Kind::kAutoreply) << dump(v);
}

TEST(Classify, SieveRejectMdnIsBounce) {
  const Verdict v = run(
      "From: Postmaster <postmaster@example.org>\nTo: <bob@example.net>\nSubject: Rejected: plans\n"
      "Auto-Submitted: auto-replied (rejected)\nMIME-Version: 1.0\n"
      "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\n\n"
      "--b\nContent-Type: text/plain\n\nYour message to <alice@example.org> was automatically rejected:\nGo away.\n"
      "--b\nContent-Type: message/disposition-notification\n\n"
      "Reporting-UA: mx.example.org; Dovecot Mail Delivery Agent\nFinal-Recipient: rfc822; alice@example.org\n"
      "Disposition: automatic-action/MDN-sent-automatically; deleted\n--b--\n");
  EXPECT_EQ(v.kind, Kind::kBounce) << dump(v);
}

TEST(Classify, ModerationConfirmationIsAChallenge) {
  // It also carries a list command address with a token (subscription
  // evidence); the precedence makes it a challenge.
  const Verdict v = run(
      "From: devel-confirm+0123456789abcdef0123@lists.example.org\nTo: bob@example.net\n"
      "Subject: Confirmation of your message\n\n"
      "To distribute the attached message in list devel, please reply to confirm.\n");
  EXPECT_EQ(v.kind, Kind::kChallenge) << dump(v);
}

TEST(Classify, DsnWrappedChallengeIsAChallenge) {
  const Verdict v = run(
      "From: MAILER-DAEMON@example.org\nTo: bob@example.net\nSubject: Please verify your email address\n"
      "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
      "--b\nContent-Type: text/plain\n\nI use a program to protect myself from junk mail. "
      "Please verify that you are a human by replying to this message.\n"
      "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
      "Final-Recipient: rfc822; alice@example.org\nAction: failed\nStatus: 5.7.1\n--b--\n");
  EXPECT_EQ(v.kind, Kind::kChallenge) << dump(v);
}

TEST(Classify, TicketAcknowledgementWithDeliveryWordsIsAutoreply) {
  const Verdict v = run(
      "From: Support <support@shop.example>\nTo: bob@example.net\n"
      "Subject: Delivery failure of order 4711 [Ticket#2026112710000123]\n"
      "Return-Path: <>\n\n"
      "Thank you for contacting us. Your ticket has been created and we will answer within two days.\n");
  EXPECT_EQ(v.kind, Kind::kAutoreply) << dump(v);
}

// The acknowledgement precedence follows the `ticket` flag, not rule names:
// a user's own flagged rule takes part; a rule named body-ticket without the
// flag does not; a delivery report stays a bounce.
TEST(Classify, TicketPrecedenceFollowsTheFlag) {
  const std::string common =
      "order-subj subject bounce 1.5 /^delivery failure of order/\n"
      "auto-gen header:auto-submitted auto 0.5 /^auto-generated/\n";
  const std::string ack =
      "From: Shop <orders@shop.example>\nTo: bob@example.net\nSubject: Delivery failure of order 4711\n"
      "Auto-Submitted: auto-generated\n\nYour case has been opened.\n";
  auto classify_with = [&](const std::string& extra, const std::string& raw) {
    auto rules = compile_rules(common + extra);
    EXPECT_TRUE(rules) << rules.error().to_string();
    if (!rules) return Verdict{};
    const Classifier c(*rules);
    auto m = mail::parse_message(raw);
    EXPECT_TRUE(m);
    return m ? c.classify(*m) : Verdict{};
  };
  // bounce 1.5 + 0.5 auto beats autoreply 1.0 + 0.5 on the totals.
  const Verdict flagged = classify_with("my-ack body autoreply 1.0 flags=ticket /case has been opened/\n", ack);
  EXPECT_EQ(flagged.kind, Kind::kAutoreply) << dump(flagged);
  EXPECT_TRUE(has_signal(flagged, "my-ack")) << dump(flagged);
  const Verdict renamed = classify_with("body-ticket body autoreply 1.0 /case has been opened/\n", ack);
  EXPECT_EQ(renamed.kind, Kind::kBounce) << dump(renamed);
  EXPECT_TRUE(has_signal(renamed, "body-ticket")) << dump(renamed);
  const Verdict report = classify_with(
      "my-ack body autoreply 1.0 flags=ticket /case has been opened/\n",
      "From: Shop <orders@shop.example>\nTo: bob@example.net\nSubject: Delivery failure of order 4711\n"
      "Auto-Submitted: auto-generated\nMIME-Version: 1.0\n"
      "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
      "--b\nContent-Type: text/plain\n\nYour case has been opened.\n"
      "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.shop.example\n\n"
      "Final-Recipient: rfc822; bob@example.net\nAction: failed\nStatus: 5.1.1\n--b--\n");
  EXPECT_EQ(report.kind, Kind::kBounce) << dump(report);
  EXPECT_TRUE(has_signal(report, "my-ack")) << dump(report);
}

TEST(Classify, BuiltinTicketRulesCarryTheFlag) {
  const Rules& rules = builtin().rules();
  int flagged = 0;
  for (const Rule& r : rules.rules()) flagged += (r.flags & kFlagTicket) != 0;
  EXPECT_GE(flagged, 2);
  EXPECT_NE(describe_signal(rules, "subj-ticket").find("flags=ticket"), std::string::npos)
      << describe_signal(rules, "subj-ticket");
}

TEST(Classify, ShortUnquotedReplyWithVacationPhraseNeedsNoHeader) {
  // vacation(1): only To and Subject, the user's text; the reply shape and
  // an out-of-office phrase are two independent signals.
  const Verdict v = run("To: bob@example.net\nSubject: Re: Status projektu\n\n"
                        "Jestem na urlopie do 7 grudnia. Odpowiem po powrocie.\n");
  EXPECT_EQ(v.kind, Kind::kAutoreply) << dump(v);
  EXPECT_TRUE(has_signal(v, "reply-shape")) << dump(v);
}

// Issue 16: delay and failure notices without DSN structure in unusual
// wording, modelled on what such systems send in their text form ("Mail
// Delivery Warning" delay notices, "Mail Error" notices quoting the
// original's headers, Exchange's non-delivery reports for a moderated
// group), and look-alikes a person writes, which stay none.
struct Unusual {
  const char* name;
  Kind want;
  const char* signal;  // a rule that must fire ("" for none)
  const char* raw;
};

const Unusual kUnusualWordings[] = {
    // a delay notice in plain text, no report part, quoting the original's headers
    {"MailDeliveryWarningFromDaemon", Kind::kBounce, "subj-delivery-warning",
      "Return-Path: <>\n"
      "From: Mail Delivery System <MAILER-DAEMON@mail.example.org>\n"
      "To: alice@example.org\n"
      "Subject: Mail Delivery Warning\n"
      "Date: Mon, 7 Dec 2026 10:00:00 +0000\n"
      "Message-ID: <warn-1@mail.example.org>\n"
      "Content-Type: text/plain; charset=us-ascii\n"
      "\n"
      "This is an automatically generated message. Please do not reply.\n"
      "\n"
      "Your message has not yet been delivered to the following recipient:\n"
      "\n"
      "    dave@example.net\n"
      "\n"
      "The server has been trying to deliver it for 4 hours and will keep\n"
      "trying for 3 more days. You do not need to resend your message.\n"
      "\n"
      "Last error: 451 4.7.1 <dave@example.net>: Please try again later\n"
      "\n"
      "------ Headers of your message ------\n"
      "Received: from [192.0.2.7] by mail.example.org; Mon, 7 Dec 2026 06:00:00 +0000\n"
      "Message-ID: <orig-7@example.org>\n"
      "From: alice@example.org\n"
      "To: dave@example.net\n"
      "Subject: quarterly figures\n"},
    // the same as a relay that keeps the text alone passes it on: only From: postmaster
    {"MailDeliveryWarningBare", Kind::kBounce, "body-delay-notice",
      "From: postmaster@mail.example.org\n"
      "To: alice@example.org\n"
      "Subject: Mail Delivery Warning\n"
      "Content-Type: text/plain; charset=us-ascii\n"
      "\n"
      "Your message has not yet been delivered to the following recipient:\n"
      "\n"
      "    dave@example.net\n"
      "\n"
      "The server will keep trying for 3 more days. You do not need to resend your message.\n"},
    // a delay notice from a notification address: the subject and the body's fixed sentences
    {"MailDeliveryWarningNoDaemonSender", Kind::kBounce, "subj-delivery-warning",
      "From: Example Mail <notifications@mail.example.org>\n"
      "To: alice@example.org\n"
      "Subject: Mail Delivery Warning\n"
      "Content-Type: text/plain; charset=us-ascii\n"
      "\n"
      "THIS IS A WARNING MESSAGE ONLY. YOU DO NOT NEED TO RESEND YOUR MESSAGE.\n"
      "\n"
      "Delivery to the following recipient has been delayed:\n"
      "\n"
      "    dave@example.net\n"
      "\n"
      "Delivery attempts will continue for 3 more days.\n"},
    // "Mail Error" from a mail administrator, the original's headers quoted below
    {"MailErrorQuotingHeaders", Kind::kBounce, "subj-mail-error",
      "Return-Path: <>\n"
      "From: \"Mail Administrator\" <postmaster@mail.example.com>\n"
      "To: alice@example.org\n"
      "Subject: Mail Error\n"
      "Date: Mon, 7 Dec 2026 10:00:00 +0000\n"
      "Content-Type: text/plain; charset=us-ascii\n"
      "\n"
      "Your mail could not be delivered to the following address:\n"
      "\n"
      "dave@example.net\n"
      "    550 5.1.1 <dave@example.net>... User unknown\n"
      "\n"
      "Below are the headers of your message.\n"
      "\n"
      "Received: from client.example.org (client.example.org [192.0.2.7])\n"
      "\tby mail.example.com; Mon, 7 Dec 2026 09:59:58 +0000\n"
      "Message-ID: <orig-8@example.org>\n"
      "From: Alice <alice@example.org>\n"
      "To: dave@example.net\n"
      "Subject: lunch\n"
      "Date: Mon, 7 Dec 2026 09:59:50 +0000\n"},
    // the same without the null Return-Path and the daemon's display name
    {"MailErrorBare", Kind::kBounce, "subj-mail-error",
      "From: mailer@mail.example.com\n"
      "To: alice@example.org\n"
      "Subject: Mail Error\n"
      "Content-Type: text/plain; charset=us-ascii\n"
      "\n"
      "Your mail could not be delivered to the following address:\n"
      "\n"
      "dave@example.net\n"
      "    550 5.1.1 <dave@example.net>... User unknown\n"
      "\n"
      "Message-ID: <orig-8@example.org>\n"
      "From: Alice <alice@example.org>\n"
      "To: dave@example.net\n"
      "Subject: lunch\n"},
    // Exchange Online's non-delivery report for a post the group's moderator rejected (text part)
    {"ExchangeModerationRejected", Kind::kBounce, "body-moderator-refused",
      "From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.example>\n"
      "To: alice@example.org\n"
      "Subject: Undeliverable: Team offsite\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "\n"
      "Your message to team@contoso.example couldn't be delivered.\n"
      "\n"
      "The group's moderator rejected your message.\n"
      "\n"
      "alice          Office 365          team\n"
      "Action Required                    Recipient\n"
      "\n"
      "Moderator rejected message\n"
      "\n"
      "How to Fix It\n"
      "Contact the group's moderator, or send your message to someone else.\n"
      "\n"
      "Diagnostic information for administrators:\n"
      "Generating server: AM0PR01MB1234.eurprd01.prod.example\n"
      "team@contoso.example\n"
      "Remote Server returned '550 5.7.1 RESOLVER.RST.NotAuthorized; moderator rejected message'\n"},
    // the same without the diagnostic block
    {"ExchangeModerationRejectedNoDiagnostic", Kind::kBounce, "body-exchange",
      "From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.example>\n"
      "To: alice@example.org\n"
      "Subject: Undeliverable: Team offsite\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "\n"
      "Your message to team@contoso.example couldn't be delivered.\n"
      "\n"
      "The group's moderator rejected your message.\n"
      "\n"
      "How to Fix It\n"
      "Contact the group's moderator, or send your message to someone else.\n"},
    // Exchange's report for a post not approved before it expired
    {"ExchangeModerationExpired", Kind::kBounce, "body-moderator-refused",
      "From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.example>\n"
      "To: alice@example.org\n"
      "Subject: Undeliverable: Team offsite\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "\n"
      "Delivery has failed to these recipients or groups:\n"
      "\n"
      "team@contoso.example\n"
      "Your message wasn't delivered because it wasn't approved by the group's moderator before it expired.\n"
      "\n"
      "Diagnostic information for administrators:\n"
      "Generating server: EX01.contoso.example\n"
      "team@contoso.example\n"
      "#550 5.2.0 MODERATION.Expired; message expired ##\n"},
    // "Delivery Status Notification (Non-Delivery)" for a post the moderator did not approve
    {"ExchangeNonDeliveryDsnSubject", Kind::kBounce, "body-exchange",
      "From: postmaster@contoso.example\n"
      "To: alice@example.org\n"
      "Subject: Delivery Status Notification (Non-Delivery)\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "\n"
      "Your message to team@contoso.example couldn't be delivered because it was not approved by the group's moderator.\n"
      "\n"
      "The moderator didn't act on your message before it expired.\n"},

};

const Unusual kUnusualLookAlikes[] = {
    {"PersonAsksAboutAMailError", Kind::kNone, "",
      "From: Carol <carol@example.org>\n"
      "To: helpdesk@example.org\n"
      "Subject: Mail error\n"
      "\n"
      "Hi, since this morning Outlook shows an error when I send to the Berlin office. Can you look?\n"
      "Carol\n"},
    {"ReplySayingNoNeedToResend", Kind::kNone, "",
      "From: Dan <dan@example.org>\n"
      "To: alice@example.org\n"
      "Subject: Re: Mail Delivery Warning\n"
      "In-Reply-To: <w@example.org>\n"
      "\n"
      "No worries, it arrived: you do not need to resend your message.\n"},
    {"ListPostAboutModeration", Kind::kNone, "",
      "From: Eve <eve@example.org>\n"
      "To: users@lists.example.org\n"
      "Subject: Re: posting rules\n"
      "List-Id: <users.lists.example.org>\n"
      "List-Post: <mailto:users@lists.example.org>\n"
      "\n"
      "My post about the meetup was not approved by the moderator, and the moderator rejected the message without a reason.\n"
      "> quoted text\n"},
    {"PersonRelaysADeliveryProblem", Kind::kNone, "",
      "From: Fay <fay@example.org>\n"
      "To: bob@example.net\n"
      "Subject: Your message to the board\n"
      "\n"
      "Your message to board@example.org could not be delivered because the list is closed; I forwarded it for you. It has not been delivered yet to the following recipient: the chair.\n"},
};

TEST(Classify, UnusualBounceWordingsAreBounces) {
  for (const Unusual& c : kUnusualWordings) {
    const Verdict v = run(c.raw);
    EXPECT_EQ(v.kind, c.want) << c.name << ": " << dump(v);
    EXPECT_TRUE(has_signal(v, c.signal)) << c.name << ": " << dump(v);
  }
}

TEST(Classify, UnusualBounceWordingsLookAlikesAreNone) {
  for (const Unusual& c : kUnusualLookAlikes) {
    const Verdict v = run(c.raw);
    EXPECT_EQ(v.kind, c.want) << c.name << ": " << dump(v);
  }
}

// The "Mail Error" notice quotes the original's headers as text: the
// references come from them.
TEST(Classify, MailErrorNoticeGivesTheQuotedReferences) {
  const Unusual* c = std::find_if(std::begin(kUnusualWordings), std::end(kUnusualWordings),
                                  [](const Unusual& u) { return std::string_view(u.name) == "MailErrorQuotingHeaders"; });
  ASSERT_NE(c, std::end(kUnusualWordings));
  const Verdict v = run(c->raw);
  EXPECT_EQ(v.refs.message_id, "orig-8@example.org");
  EXPECT_EQ(v.refs.subject, "lunch");
}

TEST(Classify, NearMissesAreNone) {
  // A person's short reply with no vacation wording.
  EXPECT_EQ(run("From: a@example.org\nTo: b@example.com\nSubject: Re: lunch\nIn-Reply-To: <x@example.com>\n\n"
                "Sounds good, see you at noon.\n").kind, Kind::kNone);
  // A quoted reply that talks about a vacation reply.
  EXPECT_EQ(run("From: a@example.org\nTo: b@example.com\nSubject: Re: out of office\n\n"
                "Yes, I am on vacation until Monday, the autoreply is on.\n\n> Are you away?\n").kind,
            Kind::kNone);
  // An order confirmation with a confirmation link.
  EXPECT_EQ(run("From: shop@shop.example\nTo: b@example.com\nSubject: Please confirm your order 4711\n\n"
                "Confirm here: https://shop.example/order/confirm?id=0123456789abcdef0123\n").kind,
            Kind::kNone);
  // A list post about bounces and confirmations.
  EXPECT_EQ(run("From: a@example.org\nTo: devel@lists.example.org\nSubject: Re: bounce handling\n"
                "List-Id: <devel.lists.example.org>\nList-Post: <mailto:devel@lists.example.org>\n\n"
                "Our confirm+TOKEN addresses are parsed; the message could not be delivered to one list.\n"
                "> quoted\n").kind,
            Kind::kNone);
}

}  // namespace
}  // namespace backstop::classify
