#include "report/extract.h"

#include <gtest/gtest.h>

#include "report/scan_fixtures.h"

namespace backstop::report {
namespace {

TEST(Record, FromADsn) {
  mail::RawMessage raw;
  raw.location = "in/box";
  raw.index = 3;
  raw.bytes = testing::dsn_message(1);
  auto msg = mail::parse_message(raw.bytes);
  ASSERT_TRUE(msg.has_value());
  classify::Verdict v;
  v.kind = classify::Kind::kBounce;
  v.refs.original_sender = "alice@example.org";
  v.refs.recipients.push_back({"nobody@example.net", "nobody@example.net", "failed", "5.1.1", ""});
  MessageRecord r = make_record(raw, *msg, v, Trusted{});
  EXPECT_EQ(r.file, "in/box");
  EXPECT_EQ(r.index, 3u);
  EXPECT_EQ(r.kind, "bounce");
  EXPECT_EQ(r.subject, "Undelivered Mail Returned to Sender");
  EXPECT_EQ(r.from, "MAILER-DAEMON@mx.example.net");
  EXPECT_EQ(r.day, "2003-07-01");
  EXPECT_EQ(r.source_ip, "81.2.70.160");
  EXPECT_EQ(r.source_host, "mx.example.net");
  ASSERT_EQ(r.local_recipients.size(), 1u);
  EXPECT_EQ(r.local_recipients[0], "alice@example.org");
  EXPECT_EQ(r.refs.recipients.at(0).status, "5.1.1");
  EXPECT_EQ(r.size, raw.bytes.size());
}

TEST(Record, LocalRecipientsFallBackToToAndCc) {
  auto msg = mail::parse_message("To: A <A@Example.org>, b@example.org\nCc: a@example.org\n\nx\n");
  ASSERT_TRUE(msg.has_value());
  auto r = local_recipients(msg->headers);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], "a@example.org");
  EXPECT_EQ(r[1], "b@example.org");
}

}  // namespace
}  // namespace backstop::report
