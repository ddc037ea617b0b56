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

namespace backstop::mail {
namespace {

std::string report(const std::string& status_part_headers, const std::string& status_body) {
  return "From: MAILER-DAEMON@x.example\nSubject: failure\nMIME-Version: 1.0\n"
         "Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\n\n"
         "--R\nContent-Type: text/plain\n\nsorry\n"
         "--R\n" + status_part_headers + "\n" + status_body + "\n--R--\n";
}

TEST(DeliveryStatus, Base64EncodedWithLeadingBlankLines) {
  // "\r\n\r\nReporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822; a@b\r\nStatus: 5.0.0\r\n" in base64.
  const std::string raw = report("Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n",
      "DQoNClJlcG9ydGluZy1NVEE6IGRuczsgeA0KDQpGaW5hbC1SZWNpcGllbnQ6IHJmYzgyMjsgYUBiDQpTdGF0dXM6IDUuMC4wDQo=");
  auto r = parse_message(raw);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->delivery_status.size(), 1u);
  EXPECT_EQ(r->delivery_status[0].per_message.get("reporting-mta"), "dns; x");
  ASSERT_EQ(r->delivery_status[0].per_recipient.size(), 1u);
  EXPECT_EQ(r->delivery_status[0].per_recipient[0].get("final-recipient"), "rfc822; a@b");
  EXPECT_EQ(r->delivery_status[0].per_recipient[0].get("status"), "5.0.0");
}

TEST(DeliveryStatus, GlobalAndRecipientOnlyGroups) {
  const std::string raw = report("Content-Type: message/global-delivery-status\n",
      "Final-Recipient: utf-8; j\xc3\xb6rg@x.example\nAction: failed\nStatus: 5.1.1\n"
      "  (folded comment)\n\nFinal-Recipient: rfc822; b@x.example\nAction: failed\n");
  auto r = parse_message(raw);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->delivery_status.size(), 1u);
  const DeliveryStatus& ds = r->delivery_status[0];
  EXPECT_TRUE(ds.per_message.fields.empty());
  ASSERT_EQ(ds.per_recipient.size(), 2u);
  EXPECT_EQ(ds.per_recipient[0].get("final-recipient"), "utf-8; j\xc3\xb6rg@x.example");
  EXPECT_EQ(ds.per_recipient[0].get("status"), "5.1.1  (folded comment)");
  EXPECT_EQ(ds.per_recipient[1].get("final-recipient"), "rfc822; b@x.example");
  EXPECT_EQ(ds.per_recipient[1].get("status"), "");
}

TEST(Embedded, Rfc822HeadersPart) {
  const std::string raw = report("Content-Type: text/rfc822-headers\n",
      "Message-ID: <abc@orig.example>\nFrom: me@orig.example\nReceived: from a by b; d\n");
  auto r = parse_message(raw);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->embedded.size(), 1u);
  EXPECT_EQ(r->embedded[0].kind, "rfc822-headers");
  EXPECT_EQ(*r->embedded[0].headers.get("message-id"), "<abc@orig.example>");
  EXPECT_EQ(r->embedded[0].headers.all("received").size(), 1u);
  EXPECT_EQ(r->text, "sorry");  // the line break before a boundary belongs to it
}

TEST(Embedded, CountIsBounded) {
  std::string raw = "From: a@b\nContent-Type: multipart/mixed; boundary=M\n\n";
  for (int i = 0; i < 40; ++i) {
    raw += "--M\nContent-Type: message/rfc822\n\nMessage-ID: <" + std::to_string(i) + "@x>\n\nbody " +
           std::to_string(i) + "\n";
  }
  raw += "--M--\n";
  auto r = parse_message(raw);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->embedded.size(), kDefaultLimits.max_embedded);
  EXPECT_TRUE(r->has(Condition::kEmbeddedCount));
  EXPECT_EQ(*r->embedded[0].headers.get("message-id"), "<0@x>");
  EXPECT_NE(r->embedded_text.find("body 39"), std::string::npos);
  EXPECT_TRUE(r->text.empty());
}

TEST(Embedded, FiveThousandNestedMessagesAreBounded) {
  std::string raw;
  for (int i = 0; i < 5000; ++i) raw += "From: n" + std::to_string(i) + "@x\nContent-Type: message/rfc822\n\n";
  raw += "From: last@x\n\ninnermost\n";
  auto r = parse_message(raw);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->has(Condition::kMimeDepth));
  EXPECT_LE(r->embedded.size(), kDefaultLimits.max_embedded);
  for (const Part& p : r->parts) EXPECT_LE(static_cast<std::size_t>(p.depth), kDefaultLimits.max_mime_depth);
}

TEST(Text, AlternativePrefersPlainAndHtmlIsReduced) {
  const std::string alt =
      "From: a@b\nContent-Type: multipart/alternative; boundary=A\n\n"
      "--A\nContent-Type: text/plain; charset=utf-8\n\nplain words\n"
      "--A\nContent-Type: text/html\n\n<p>html words</p>\n--A--\n";
  auto r = parse_message(alt);
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->text.find("plain words"), std::string::npos);
  EXPECT_EQ(r->text.find("html words"), std::string::npos);

  const std::string html =
      "From: a@b\nContent-Type: text/html; charset=windows-1252\nContent-Transfer-Encoding: quoted-printable\n\n"
      "<html><head><style>p {color:red}</style><script>var x='<p>';</script></head>"
      "<body><p>Delivery&nbsp;has <b>failed</b> &amp; =93quoted=94 &#233;&#x263A;</p><!-- hidden -->"
      "<div>next&bogus; line</div></body></html>\n";
  auto h = parse_message(html);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->text, "Delivery has failed & \xe2\x80\x9cquoted\xe2\x80\x9d \xc3\xa9\xe2\x98\xba\n\nnext&bogus; line\n");
}

TEST(Text, CharsetsAndInvalidBytes) {
  const std::string raw =
      "From: a@b\nContent-Type: multipart/mixed; boundary=C\n\n"
      "--C\nContent-Type: text/plain; charset=iso-2022-jp\n\n\x1b$B$3$s$K$A$O\x1b(B\n"
      "--C\nContent-Type: text/plain; charset=utf-8\n\nbad \xff byte\n"
      "--C\nContent-Type: text/plain; charset=no-such-charset\n\nstill text\n"
      "--C\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAAAAAA\n--C--\n";
  auto r = parse_message(raw);
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->text.find("\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf"), std::string::npos) << r->text;
  EXPECT_NE(r->text.find("bad \xef\xbf\xbd byte"), std::string::npos);
  EXPECT_NE(r->text.find("still text"), std::string::npos);
  ASSERT_EQ(r->parts.size(), 5u);
  EXPECT_EQ(r->parts[4].decoded_size, 6u);
}

TEST(Limits, BodyTextAndPartsAreCapped) {
  Limits l;
  l.max_body_text = 1000;
  l.max_parts = 10;
  std::string raw = "From: a@b\nContent-Type: multipart/mixed; boundary=P\n\n";
  for (int i = 0; i < 50; ++i) raw += "--P\nContent-Type: text/plain\n\n" + std::string(200, static_cast<char>('a' + i % 26)) + "\n";
  raw += "--P--\n";
  auto r = parse_message(raw, l);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->parts.size(), 10u);
  EXPECT_TRUE(r->has(Condition::kMimeParts));
  EXPECT_LE(r->text.size(), 1000u);
  EXPECT_TRUE(r->has(Condition::kBodyTruncated));
}

// Found by fuzz_message: HTML text that reaches the cap in the middle of a
// multi-byte character must be cut before that character, never inside it.
TEST(Limits, HtmlTextCapNeverSplitsACharacter) {
  for (std::size_t cap = 10; cap < 16; ++cap) {
    Limits l;
    l.max_body_text = cap;
    std::string raw = "From: a@b\nContent-Type: text/html; charset=utf-8\n\n<p>";
    for (int i = 0; i < 20; ++i) raw += "\xe4\xb8\xad";  // U+4E2D, three bytes
    raw += "</p>\n";
    auto r = parse_message(raw, l);
    ASSERT_TRUE(r.has_value());
    EXPECT_LE(r->text.size(), cap);
    EXPECT_EQ(r->text.size() % 3, 0u) << "cap " << cap << ": " << r->text;
    EXPECT_TRUE(r->has(Condition::kBodyTruncated));
  }
}

TEST(Damage, MissingBoundaryAndTruncationAreReported) {
  const std::string raw =
      "From: a@b\nContent-Type: multipart/mixed; boundary=never\n\nno parts here at all\n";
  auto r = parse_message(raw);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->has(Condition::kMimeDamaged));
  const std::string no_boundary = "From: a@b\nContent-Type: multipart/mixed\n\n--x\n\nbody\n";
  auto n = parse_message(no_boundary);
  ASSERT_TRUE(n.has_value());
  EXPECT_TRUE(n->has(Condition::kMimeDamaged));
}

TEST(Damage, UnfoldedBoundaryParameterOfANestedPart) {
  // The boundary parameter of the nested part is on a line of its own with
  // no leading white space (Apache James, Verizon).
  for (const std::string eol : {"\n", "\r\n"}) {
    std::string raw =
        "From: a@b\nSubject: x\nContent-Type: multipart/mixed; boundary=\"outer\"\n\n"
        "--outer\nContent-Type: multipart/alternative;\nboundary=\"inner\"\n\n"
        "--inner\nContent-Type: text/plain\n\nhello plain\n"
        "--inner\nContent-Type: text/html\n\n<p>hello html</p>\n--inner--\n"
        "--outer\nContent-Type: text/plain\n\nsecond part\n--outer--\n";
    if (eol != "\n") {
      std::string crlf;
      for (char c : raw) c == '\n' ? crlf += eol : crlf += c;
      raw = crlf;
    }
    auto r = parse_message(raw);
    ASSERT_TRUE(r.has_value());
    bool alternative = false;
    std::size_t plain = 0;
    for (const Part& p : r->parts) {
      alternative = alternative || (p.type == "multipart" && p.subtype == "alternative");
      plain += p.type == "text" && p.subtype == "plain";
    }
    EXPECT_TRUE(alternative);
    EXPECT_EQ(plain, 2u);
    EXPECT_NE(r->text.find("hello plain"), std::string::npos);
    EXPECT_NE(r->text.find("second part"), std::string::npos);
    EXPECT_EQ(r->text.find("--inner"), std::string::npos);
  }
  // A "boundary=" line in a body, not after a line ending in ';', is left alone.
  auto r = parse_message("From: a@b\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: text/plain\n\n"
                         "see below\nboundary=x is text\n--o--\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->text.find("\nboundary=x is text"), std::string::npos);
}

TEST(ParseMessage, HeaderConditionsAreCarried) {
  auto r = parse_message("From: a@b\nno colon here\nSubject: x\n\nbody\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->has(Condition::kBrokenHeaderLine));
  EXPECT_EQ(r->headers.size(), 2u);
  EXPECT_EQ(r->text, "body\n");
  auto lead = parse_message("\n  \r\nFrom: a@b\r\n\r\nhello\r\n");
  ASSERT_TRUE(lead.has_value());
  EXPECT_EQ(*lead->headers.get("from"), "a@b");
  EXPECT_EQ(lead->text, "hello\r\n");
}

}  // namespace
}  // namespace backstop::mail

namespace backstop::mail {
namespace {

TEST(SinglePart, DecodedWithoutTheMimeParser) {
  auto r = parse_message(
      "From: a@b\nContent-Type: text/plain; charset=\"utf-8\"; name=\"n.txt\"\n"
      "Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.txt\n\n"
      "w6l0w6kgdGV4dA==\n");
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->parts.size(), 1u);
  EXPECT_EQ(r->parts[0].charset, "utf-8");
  EXPECT_EQ(r->parts[0].disposition, "attachment");
  EXPECT_EQ(r->parts[0].filename, "r\xc3\xa9sum\xc3\xa9.txt");
  EXPECT_EQ(r->parts[0].decoded_size, 10u);
  EXPECT_EQ(r->text, "\xc3\xa9t\xc3\xa9 text");

  auto bin = parse_message("From: a@b\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n\nAAAAAAAA\n");
  ASSERT_TRUE(bin.has_value());
  EXPECT_EQ(bin->parts[0].type, "application");
  EXPECT_EQ(bin->parts[0].subtype, "zip");
  EXPECT_TRUE(bin->text.empty());

  auto ds = parse_message("From: a@b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nAction: failed\n");
  ASSERT_TRUE(ds.has_value());
  ASSERT_EQ(ds->delivery_status.size(), 1u);
  EXPECT_EQ(ds->delivery_status[0].per_recipient.size(), 1u);
}

}  // namespace
}  // namespace backstop::mail

#include <thread>

namespace backstop::mail {
namespace {

TEST(ParseMessage, ConcurrentCallsAgree) {
  std::vector<std::thread> threads;
  std::vector<std::size_t> recipients(4, 0);
  for (std::size_t t = 0; t < recipients.size(); ++t) {
    threads.emplace_back([t, &recipients] {
      for (int i = 0; i < 50; ++i) {
        auto r = parse_message(kDsn);
        if (r && !r->delivery_status.empty()) recipients[t] += r->delivery_status[0].per_recipient.size();
        auto k = parse_message("From: a@b\nContent-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n");
        if (!k || k->text != "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\n") recipients[t] = 0;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (std::size_t n : recipients) EXPECT_EQ(n, 100u);
}

TEST(ParseMessage, HundredThousandHeaderFieldsAreCapped) {
  std::string raw = "From: a@b\n";
  for (int i = 0; i < 100000; ++i) raw += "Received: from h" + std::to_string(i) + " by x; d\n";
  raw += "\nbody\n";
  auto r = parse_message(raw);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->headers.size(), kDefaultLimits.max_header_count);
  EXPECT_TRUE(r->has(Condition::kHeaderCount));
  EXPECT_EQ(r->text, "body\n");
}

}  // namespace
}  // namespace backstop::mail

namespace backstop::mail {
namespace {

TEST(Embedded, GlobalAndTransferEncodedOriginals) {
  // "Message-ID: <enc@x>\r\nSubject: encoded original\r\n\r\nhidden words\r\n" in base64.
  const std::string raw =
      "From: postmaster@x\nContent-Type: multipart/report; report-type=delivery-status; boundary=G\n\n"
      "--G\nContent-Type: text/plain\n\nnotice\n"
      "--G\nContent-Type: message/global\n\nMessage-ID: <global@x>\nSubject: caf\xc3\xa9\n\nglobal words\n"
      "--G\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
      "TWVzc2FnZS1JRDogPGVuY0B4Pg0KU3ViamVjdDogZW5jb2RlZCBvcmlnaW5hbA0KDQpoaWRkZW4gd29yZHMNCg==\n--G--\n";
  auto r = parse_message(raw);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->embedded.size(), 2u);
  EXPECT_EQ(r->embedded[0].kind, "rfc822");
  EXPECT_EQ(*r->embedded[0].headers.get("message-id"), "<global@x>");
  EXPECT_EQ(*r->embedded[1].headers.get("message-id"), "<enc@x>") << r->embedded[1].headers.size();
  EXPECT_NE(r->embedded_text.find("global words"), std::string::npos);
  EXPECT_NE(r->embedded_text.find("hidden words"), std::string::npos) << r->embedded_text;
  EXPECT_EQ(r->text, "notice");
}

}  // namespace
}  // namespace backstop::mail
