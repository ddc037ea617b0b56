#include "mail/message.h"

#include <gtest/gtest.h>

#include <string>

namespace backstop::mail {
namespace {

const char kDsn[] =
    "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
    "To: user@example.org\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n"
    "\r\n"
    "--B1\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Your message could not be delivered. Caf=E9.\r\n"
    "--B1\r\n"
    "Content-Type: message/delivery-status\r\n"
    "\r\n"
    "Reporting-MTA: dns; mx.example.com\r\n"
    "Arrival-Date: Mon, 2 Jan 2023 10:00:00 +0000\r\n"
    "\r\n"
    "Final-Recipient: rfc822; nobody@example.net\r\n"
    "Action: failed\r\n"
    "Status: 5.1.1\r\n"
    "\r\n"
    "Final-Recipient: rfc822; other@example.net\r\n"
    "Action: delayed\r\n"
    "Status: 4.4.1\r\n"
    "--B1\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "From: user@example.org\r\n"
    "Message-ID: <orig-1@example.org>\r\n"
    "Subject: the original\r\n"
    "\r\n"
    "original words\r\n"
    "--B1--\r\n";

TEST(ParseMessage, DeliveryStatusNotification) {
  auto r = parse_message(kDsn);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  const Message& m = *r;
  EXPECT_EQ(*m.headers.get("subject"), "Undelivered Mail Returned to Sender");
  ASSERT_GE(m.parts.size(), 5u);
  EXPECT_EQ(m.parts[0].type, "multipart");
  EXPECT_EQ(m.parts[0].subtype, "report");
  EXPECT_EQ(m.parts[0].report_type, "delivery-status");
  EXPECT_EQ(m.parts[1].parent, 0);
  EXPECT_EQ(m.parts[1].depth, 1);
  EXPECT_EQ(m.parts[1].charset, "iso-8859-1");
  EXPECT_NE(m.text.find("Caf\xc3\xa9."), std::string::npos) << m.text;
  EXPECT_EQ(m.text.find("original words"), std::string::npos);
  EXPECT_NE(m.embedded_text.find("original words"), std::string::npos);
  ASSERT_EQ(m.delivery_status.size(), 1u);
  const DeliveryStatus& ds = m.delivery_status[0];
  EXPECT_EQ(ds.per_message.get("reporting-mta"), "dns; mx.example.com");
  ASSERT_EQ(ds.per_recipient.size(), 2u);
  EXPECT_EQ(ds.per_recipient[0].get("final-recipient"), "rfc822; nobody@example.net");
  EXPECT_EQ(ds.per_recipient[0].get("status"), "5.1.1");
  EXPECT_EQ(ds.per_recipient[1].get("action"), "delayed");
  ASSERT_EQ(m.embedded.size(), 1u);
  EXPECT_EQ(m.embedded[0].kind, "rfc822");
  EXPECT_EQ(*m.embedded[0].headers.get("message-id"), "<orig-1@example.org>");
  EXPECT_TRUE(m.conditions.empty());
  EXPECT_EQ(m.raw_size, sizeof(kDsn) - 1);
}

TEST(ParseMessage, NoHeaderSectionIsMalformed) {
  auto r = parse_message(std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kMalformed);
}

}  // namespace
}  // namespace backstop::mail

namespace backstop::mail {
namespace {

std::string nested_multipart(int depth) {
  std::string head = "From: a@b\r\nSubject: deep\r\nMIME-Version: 1.0\r\n";
  std::string body;
  for (int i = 0; i < depth; ++i) {
    body += "Content-Type: multipart/mixed; boundary=\"b" + std::to_string(i) + "\"\r\n\r\n--b" + std::to_string(i) + "\r\n";
  }
  body += "Content-Type: text/plain\r\n\r\ninnermost\r\n";
  for (int i = depth - 1; i >= 0; --i) body += "--b" + std::to_string(i) + "--\r\n";
  return head + body;
}

TEST(ParseMessage, FiveThousandDeepMultipartIsBounded) {
  const std::string raw = nested_multipart(5000);
  auto r = parse_message(raw);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_TRUE(r->has(Condition::kMimeDepth));
  EXPECT_LE(r->parts.size(), kDefaultLimits.max_mime_depth + 1);
  for (const Part& p : r->parts) EXPECT_LE(static_cast<std::size_t>(p.depth), kDefaultLimits.max_mime_depth);
}

TEST(ParseMessage, ShallowNestingHasNoCondition) {
  auto r = parse_message(nested_multipart(5));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has(Condition::kMimeDepth));
  EXPECT_EQ(r->parts.size(), 6u);
  EXPECT_EQ(r->parts.back().depth, 5);
  EXPECT_NE(r->text.find("innermost"), std::string::npos);
}

}  // namespace
}  // namespace backstop::mail
