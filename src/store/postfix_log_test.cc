#include "store/postfix_log.h"

#include <gtest/gtest.h>

namespace backstop::store::postfix_log {
namespace {

// 2026-11-27 18:00:00 UTC
constexpr std::int64_t kNow = 1'795'802'400;

TEST(PostfixLog, SyslogLines) {
  auto l = parse_line(
      "Nov 27 16:00:01 mx1 postfix/cleanup[12345]: 4F9D21C0A2: message-id=<20261127160001.ABC@example.com>",
      kNow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->event, Event::kMessageId);
  EXPECT_EQ(l->queue_id, "4F9D21C0A2");
  EXPECT_EQ(l->value, "20261127160001.ABC@example.com");
  EXPECT_EQ(l->time, kNow - 2 * 3600 + 1);

  l = parse_line(
      "Nov 27 16:00:01 mx1 postfix/qmgr[999]: 4F9D21C0A2: from=<alice@example.com>, size=1234, nrcpt=2 (queue active)",
      kNow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->event, Event::kFrom);
  EXPECT_EQ(l->value, "alice@example.com");

  l = parse_line(
      "Nov 27 16:00:02 mx1 postfix/smtp[4242]: 4F9D21C0A2: to=<bob@example.net>, relay=mx.example.net[192.0.2.25]:25, "
      "delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 1234)",
      kNow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->event, Event::kTo);
  EXPECT_EQ(l->program, "smtp");
  EXPECT_EQ(l->value, "bob@example.net");

  l = parse_line("Nov 27 16:00:02 mx1 postfix/qmgr[999]: 4F9D21C0A2: removed", kNow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->event, Event::kRemoved);
}

TEST(PostfixLog, MaillogFileAndRfc3339Stamps) {
  // Postfix's own maillog_file (postlogd) adds microseconds.
  auto l = parse_line(
      "Nov 27 16:00:01.123456 pftest postfix/cleanup[77]: 87012A72371: message-id=<x@y>", kNow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->time, kNow - 2 * 3600 + 1);
  // Debian 12 rsyslog default: RFC 3339 with a zone offset.
  l = parse_line(
      "2026-11-27T17:00:01.654321+01:00 mx1 postfix/qmgr[5]: 87012A72371: from=<>, size=10, nrcpt=1 (queue active)",
      kNow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->event, Event::kFrom);
  EXPECT_EQ(l->value, "");
  EXPECT_EQ(l->time, kNow - 2 * 3600 + 1);
  // Multi-instance syslog_name and a long queue id.
  l = parse_line(
      "2026-11-27T16:00:01Z mx1 postfix-out/smtp[6]: 4dzPqJ0Xb1z9vLk: to=<c@d>, relay=none, delay=1, status=deferred (x)",
      kNow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->queue_id, "4dzPqJ0Xb1z9vLk");
  EXPECT_EQ(l->time, kNow - 2 * 3600 + 1);
}

TEST(PostfixLog, YearlessStampsResolveToThePast) {
  // On 2026-11-27 a "Dec 31" line is from 2025.
  auto l = parse_line("Dec 31 23:59:59 mx postfix/cleanup[1]: ABCDEF1234: message-id=<a@b>", kNow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->time, 1'767'225'599);  // 2025-12-31T23:59:59Z
  l = parse_line("Nov  7 01:02:03 mx postfix/cleanup[1]: ABCDEF1234: message-id=<a@b>", kNow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->time, 1'794'013'323);  // 2026-11-07T01:02:03Z
}

TEST(PostfixLog, IgnoresOtherLines) {
  for (const char* line : {
           "",
           "Nov 27 16:00:01 mx1 postfix/smtpd[1]: connect from localhost[127.0.0.1]",
           "Nov 27 16:00:01 mx1 postfix/smtpd[1]: 4F9D21C0A2: client=localhost[127.0.0.1]",
           "Nov 27 16:00:01 mx1 postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 550",
           "Nov 27 16:00:01 mx1 postfix/cleanup[1]: 4F9D21C0A2: message-id=<>",
           "Nov 27 16:00:01 mx1 postfix/qmgr[1]: 4F9D21C0A2: from=<unterminated",
           "Nov 27 16:00:01 mx1 postfix/qmgr[1]: 4F9D-21C0: from=<a@b>, size=1",
           "Nov 27 16:00:01 mx1 postfix/bounce[1]: 4F9D21C0A2: sender non-delivery notification: 5A",
           "Nov 27 16:00:01 mx1 postfix/cleanup[x]: 4F9D21C0A2: message-id=<a@b>",
           "Nov 27 16:00:01 mx1 cleanup[1]: 4F9D21C0A2: message-id=<a@b>",
           "Nov 27 16:00:01 mx1 postfix/smtp[1]: 4F9D21C0A2: to=<>, relay=none",
       }) {
    EXPECT_FALSE(parse_line(line, kNow)) << line;
  }
  EXPECT_FALSE(parse_line(std::string(kMaxLineBytes + 1, 'x'), kNow));
}

TEST(PostfixLog, UnbracketedMessageIdAndTimeFallback) {
  auto l = parse_line("garbage-stamp host postfix/cleanup[1]: ABCD12: message-id=bare-id@x trailing", kNow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->value, "bare-id@x");
  EXPECT_EQ(l->time, 0);
}

TEST(PostfixLog, CorrelatorJoinsQueueIds) {
  const char* log[] = {
      "Nov 27 10:00:00 mx postfix/smtpd[10]: AAAA1111: client=submit[192.0.2.9]",
      "Nov 27 10:00:00 mx postfix/cleanup[11]: AAAA1111: message-id=<out1@example.com>",
      "Nov 27 10:00:00 mx postfix/cleanup[11]: BBBB2222: message-id=<in1@example.net>",
      "Nov 27 10:00:00 mx postfix/qmgr[12]: AAAA1111: from=<alice@example.com>, size=500, nrcpt=2 (queue active)",
      "Nov 27 10:00:00 mx postfix/qmgr[12]: BBBB2222: from=<stranger@example.net>, size=500, nrcpt=1 (queue active)",
      "Nov 27 10:00:01 mx postfix/smtp[13]: AAAA1111: to=<bob@example.net>, relay=a[192.0.2.1]:25, status=sent (ok)",
      "Nov 27 10:00:01 mx postfix/smtp[13]: AAAA1111: to=<carol@example.org>, relay=b[192.0.2.2]:25, status=deferred (x)",
      "Nov 27 10:05:01 mx postfix/smtp[13]: AAAA1111: to=<carol@example.org>, relay=b[192.0.2.2]:25, status=sent (ok)",
      "Nov 27 10:00:01 mx postfix/lmtp[14]: BBBB2222: to=<alice@example.com>, relay=dovecot, status=sent (ok)",
      "Nov 27 10:00:01 mx postfix/qmgr[12]: BBBB2222: removed",
      "Nov 27 10:05:01 mx postfix/qmgr[12]: AAAA1111: removed",
      "Nov 27 10:06:00 mx postfix/cleanup[11]: CCCC3333: message-id=<pending@example.com>",
      "Nov 27 10:06:00 mx postfix/qmgr[12]: CCCC3333: from=<>, size=10, nrcpt=1 (queue active)",
      "Nov 27 10:06:00 mx postfix/cleanup[11]: DDDD4444: message-id=<no-from@example.com>",
  };
  Correlator c(kNow);
  std::vector<ImportedMessage> out;
  for (const char* line : log) c.feed(line, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].message_id, "in1@example.net");
  EXPECT_FALSE(out[0].relayed) << "delivered locally over lmtp";
  EXPECT_EQ(out[1].message_id, "out1@example.com");
  EXPECT_TRUE(out[1].relayed);
  EXPECT_EQ(out[1].entry.sender, "alice@example.com");
  EXPECT_EQ(out[1].entry.recipients, (std::vector<std::string>{"bob@example.net", "carol@example.org"}));
  EXPECT_EQ(out[1].entry.time, kNow - 8 * 3600);
  EXPECT_EQ(c.pending(), 2u);
  c.finish(&out);
  ASSERT_EQ(out.size(), 3u) << "a message without a from= line is not a ledger entry";
  EXPECT_EQ(out[2].message_id, "pending@example.com");
  EXPECT_EQ(out[2].entry.sender, "");
  EXPECT_EQ(c.pending(), 0u);
}

TEST(PostfixLog, PendingIsBounded) {
  Correlator c(kNow);
  std::vector<ImportedMessage> out;
  for (std::size_t i = 0; i < kMaxPending + 10; ++i) {
    const std::string qid = "Q" + std::to_string(100000 + i);
    c.feed("Nov 27 10:00:00 mx postfix/cleanup[1]: " + qid + ": message-id=<m" + std::to_string(i) + "@x>", &out);
    c.feed("Nov 27 10:00:00 mx postfix/qmgr[1]: " + qid + ": from=<a@x>, size=1, nrcpt=1 (queue active)", &out);
  }
  EXPECT_EQ(c.pending(), kMaxPending);
  EXPECT_EQ(out.size(), 10u) << "the oldest complete messages are emitted early";
  EXPECT_EQ(out[0].message_id, "m0@x");
}

}  // namespace
}  // namespace backstop::store::postfix_log
