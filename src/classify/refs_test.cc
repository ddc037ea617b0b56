#include "classify/refs.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace backstop::classify {
namespace {

TEST(Refs, MsgIdsWithAndWithoutBrackets) {
  auto ids = parse_msg_ids(" <a@b> (comment) <c@d>");
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], "a@b");
  EXPECT_EQ(ids[1], "c@d");
  ids = parse_msg_ids("bare@id.example");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], "bare@id.example");
  EXPECT_TRUE(parse_msg_ids("no id here").empty());
  EXPECT_TRUE(parse_msg_ids("<unclosed@x").empty());
}

TEST(Refs, DsnAddressDropsTypeAndBrackets) {
  EXPECT_EQ(dsn_address("rfc822; a@b.example"), "a@b.example");
  EXPECT_EQ(dsn_address("rfc822;<a@b.example>"), "a@b.example");
  EXPECT_EQ(dsn_address("<a@b.example>"), "a@b.example");
  EXPECT_EQ(dsn_address(""), "");
}

TEST(Refs, QuotedHeadersInReplyBody) {
  auto m = mail::parse_message(
      "From: mailer@example.net\n"
      "Subject: bounce\n"
      "X-Failed-Recipients: gone@example.net\n"
      "\n"
      "Your message could not be delivered.\n"
      "> Message-ID: <q-1@example.org>\n"
      "> Subject: the original\n"
      "> Date: Tue, 3 Jan 2023 09:00:00 +0000\n"
      "> To: gone@example.net, also@example.net\n");
  ASSERT_TRUE(m);
  const References r = extract_references(*m);
  EXPECT_EQ(r.message_id, "q-1@example.org");
  EXPECT_EQ(r.subject, "the original");
  EXPECT_EQ(r.date, "Tue, 3 Jan 2023 09:00:00 +0000");
  ASSERT_EQ(r.to.size(), 2u);
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_EQ(r.recipients[0].final_recipient, "gone@example.net");
  EXPECT_EQ(r.recipients[0].action, "failed");
}

TEST(Refs, RecipientsListedByAPlainTextNdr) {
  auto m = mail::parse_message(
      "From: MAILER-DAEMON@mail.example.com\n"
      "Subject: failure notice\n"
      "\n"
      "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
      "\n"
      "<first@example.net>:\n"
      "Sorry, no mailbox here by that name.\n"
      "\n"
      "  second@example.net\n"
      "    SMTP error from remote mail server after RCPT TO\n"
      "contact postmaster@example.com or admin@ for help\n"
      "--- Below this line is a copy of the message.\n"
      "\n"
      "To: third@example.net\n");
  ASSERT_TRUE(m);
  const References r = extract_references(*m);
  ASSERT_EQ(r.recipients.size(), 2u);
  EXPECT_EQ(r.recipients[0].final_recipient, "first@example.net");
  EXPECT_EQ(r.recipients[1].final_recipient, "second@example.net");
}

// A bounce of a mail loop quotes a long Received chain whose "by" clauses sit
// on folded lines that the inline scan does not join: every hop has an IP
// and no host. At most kMaxHops of them are kept (found by fuzz_received_inline).
TEST(Refs, QuotedReceivedChainIsBoundedByHopsNotHosts) {
  std::string raw =
      "From: MAILER-DAEMON@mx.example.net\n"
      "Subject: Mail delivery failed: too many hops\n"
      "\n"
      "Too many \"Received\" headers - suspected mail loop.\n"
      "------ This is a copy of the message, including all the headers. ------\n";
  for (int i = 0; i < 100; ++i) {
    raw += "Received: from h" + std::to_string(i) + ".example.org (h" + std::to_string(i) +
           ".example.org [192.0.2." + std::to_string(i) + "])\n\tby mx.example.net with ESMTP\n";
  }
  auto m = mail::parse_message(raw);
  ASSERT_TRUE(m);
  const References r = extract_references(*m);
  ASSERT_EQ(r.original_received_ips.size(), kMaxHops);
  EXPECT_EQ(r.original_received_ips.front(), "192.0.2.0");
  EXPECT_TRUE(r.original_received_hosts.empty());

  // The same chain attached (headers unfolded): hops with both, bounded too.
  std::string attached =
      "From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered\nMIME-Version: 1.0\n"
      "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
      "--b\nContent-Type: text/rfc822-headers\n\n";
  for (int i = 0; i < 100; ++i) {
    attached += "Received: from h" + std::to_string(i) + ".example.org ([192.0.2." + std::to_string(i) +
                "]) by mx" + std::to_string(i) + ".example.net\n";
  }
  attached += "\n--b--\n";
  m = mail::parse_message(attached);
  ASSERT_TRUE(m);
  const References a = extract_references(*m);
  EXPECT_EQ(a.original_received_ips.size(), kMaxHops);
  ASSERT_EQ(a.original_received_hosts.size(), kMaxHops);
  EXPECT_EQ(a.original_received_hosts.front(), "mx0.example.net");
}

// Found by fuzz_refs: hops that name neither an IP nor a "by" host left the
// chain open, so the attached original's and the quoted one's were appended
// together, past kMaxHops. A chain comes from one source; a later source
// replaces one that names no IP and no host.
TEST(Refs, ReceivedChainComesFromOneSourceAndStaysBounded) {
  auto build = [](std::string_view quoted_hop) {
    std::string s =
        "From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n";
    for (int i = 0; i < 30; ++i) s += "> Received: " + std::string(quoted_hop) + std::to_string(i) + "\n";
    s += "\n--b\nContent-Type: message/rfc822\n\n";
    for (int i = 0; i < 30; ++i) s += "Received: from helo" + std::to_string(i) + "\n";
    s += "Subject: original\n\nbody\n--b--\n";
    return s;
  };
  // Neither source names an IP or a host: the first chain (the attached
  // original's) is kept, alone.
  auto m = mail::parse_message(build("from quoted"));
  ASSERT_TRUE(m);
  References r = extract_references(*m);
  ASSERT_EQ(r.original_hops.size(), 30u);
  EXPECT_EQ(r.original_hops.front().from_helo, "helo0");
  EXPECT_TRUE(r.original_received_ips.empty());
  EXPECT_TRUE(r.original_received_hosts.empty());
  // The quoted chain names hosts: it replaces the attached one whole.
  m = mail::parse_message(build("from q.example.org by mx.example.net id "));
  ASSERT_TRUE(m);
  r = extract_references(*m);
  ASSERT_EQ(r.original_hops.size(), 30u);
  EXPECT_EQ(r.original_hops.front().from_helo, "q.example.org");
  EXPECT_EQ(r.original_received_hosts.size(), 30u);
}

}  // namespace
}  // namespace backstop::classify
