// parse_message from split header fields against parse_message on the text
// those fields stand for: the results must be the same, field for field.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mail/header.h"
#include "mail/mailbox.h"
#include "mail/message.h"

namespace backstop::mail {
namespace {

// How a folded field reaches a milter: with LF line breaks (Postfix) or as
// written in the message.
enum class Fold { kLf, kAsIs };

struct Split {
  std::vector<std::pair<std::string, std::string>> fields;  // name, value
  std::string body;

  std::vector<FieldView> views() const {
    std::vector<FieldView> v;
    for (const auto& [n, x] : fields) v.push_back({n, x});
    return v;
  }
  // The text the fields stand for: what the milter once rebuilt.
  std::string text() const {
    std::string raw;
    for (const auto& [n, x] : fields) raw += n + ": " + x + "\r\n";
    return raw + "\r\n" + body;
  }
};

// Splits a message into fields as an MTA hands them to a milter: the name
// before the first colon, the value after it without leading blanks, folded
// lines joined by a line break.
Split split(std::string_view raw, Fold fold) {
  Split s;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    std::size_t nl = raw.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? raw.size() : nl;
    std::string_view line = raw.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? raw.size() : nl + 1;
    std::string_view bare = line;
    if (!bare.empty() && bare.back() == '\r') bare.remove_suffix(1);
    if (bare.empty()) break;
    if ((bare.front() == ' ' || bare.front() == '\t') && !s.fields.empty()) {
      s.fields.back().second += fold == Fold::kLf ? "\n" : (line.size() > bare.size() ? "\r\n" : "\n");
      s.fields.back().second += std::string(bare);
      continue;
    }
    const std::size_t colon = bare.find(':');
    std::string_view name = bare.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : bare.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    s.fields.emplace_back(std::string(name), std::string(value));
  }
  s.body = std::string(raw.substr(pos));
  return s;
}

void dump_headers(std::ostringstream& o, const HeaderList& h) {
  for (const auto& f : h.fields()) o << "  [" << f.name << "] [" << f.value << "]\n";
}

// Every member of a parse result, for comparison.
std::string dump(const Result<Message>& r) {
  if (!r) return "error: " + r.error().to_string();
  const Message& m = *r;
  std::ostringstream o;
  o << "raw_size " << m.raw_size << "\nheaders\n";
  dump_headers(o, m.headers);
  o << "conditions";
  for (auto c : m.conditions) o << ' ' << condition_name(c);
  o << "\nparts\n";
  for (const auto& p : m.parts) {
    o << "  " << p.parent << ' ' << p.depth << ' ' << p.type << '/' << p.subtype << " charset=" << p.charset
      << " report=" << p.report_type << " file=" << p.filename << " disp=" << p.disposition
      << " size=" << p.decoded_size << '\n';
  }
  o << "text [" << m.text << "]\nembedded_text [" << m.embedded_text << "]\n";
  for (const auto& d : m.delivery_status) {
    o << "dsn\n";
    for (const auto& f : d.per_message.fields) o << "  " << f.name << '=' << f.value << '\n';
    for (const auto& g : d.per_recipient) {
      o << "  rcpt\n";
      for (const auto& f : g.fields) o << "    " << f.name << '=' << f.value << '\n';
    }
  }
  for (const auto& e : m.embedded) {
    o << "embedded " << e.kind << '\n';
    dump_headers(o, e.headers);
  }
  return o.str();
}

void expect_same(const Split& s, const Limits& limits, const std::string& what) {
  const auto views = s.views();
  const std::string text = s.text();
  const std::string from_text = dump(parse_message(text, limits));
  const std::string from_fields = dump(parse_message(views, s.body, limits));
  EXPECT_EQ(from_fields, from_text) << what;
  // and the header section alone, when the fields form one
  if (auto hp = parse_header_fields(views, limits)) {
    const HeaderParse ht = parse_header_section(text, limits);
    std::ostringstream a, b;
    dump_headers(a, hp->headers);
    dump_headers(b, ht.headers);
    EXPECT_EQ(a.str(), b.str()) << what;
    EXPECT_EQ(hp->conditions, ht.conditions) << what;
    EXPECT_EQ(hp->body_offset, ht.body_offset) << what;
  }
}

void expect_same_both_folds(std::string_view raw, const Limits& limits, const std::string& what) {
  expect_same(split(raw, Fold::kLf), limits, what + " (LF folds)");
  expect_same(split(raw, Fold::kAsIs), limits, what + " (folds as written)");
}

const std::string kDsn =
    "Return-Path: <>\r\n"
    "Received: from mx.remote.example (mx.remote.example [198.51.100.7])\r\n"
    "\tby mx.example.org (Postfix) with ESMTP id 4XyzAB\r\n"
    "\tfor <alice@example.org>; Mon, 16 Nov 2026 10:00:00 +0000\r\n"
    "From: Mail Delivery System <MAILER-DAEMON@remote.example>\r\n"
    "To: alice@example.org\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
    "\tboundary=\"B1\"\r\n"
    "\r\n"
    "--B1\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "I'm sorry to have to inform you that your message could not be delivered.\r\n"
    "--B1\r\n"
    "Content-Type: message/delivery-status\r\n"
    "\r\n"
    "Reporting-MTA: dns; mx.remote.example\r\n"
    "\r\n"
    "Final-Recipient: rfc822; bob@remote.example\r\n"
    "Action: failed\r\n"
    "Status: 5.1.1\r\n"
    "\r\n"
    "--B1\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "From: alice@example.org\r\n"
    "To: bob@remote.example\r\n"
    "Message-ID: <m1@example.org>\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "hello bob\r\n"
    "--B1--\r\n";

const std::string kPlain =
    "From: Alice <alice@example.org>\n"
    "To: bob@remote.example\n"
    "Subject: lunch\n"
    "Message-ID: <p1@example.org>\n"
    "\n"
    "Shall we have lunch on Monday?\n";

const std::string kEncoded =
    "From: =?UTF-8?B?SsO8cmdlbg==?= <juergen@remote.example>\r\n"
    "To: alice@example.org\r\n"
    "Subject: =?ISO-8859-1?Q?Abwesenheitsnotiz:_R=FCckkehr?=\r\n"
    "  =?UTF-8?Q?am_Montag?=\r\n"
    "Auto-Submitted: auto-replied\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Ich bin bis Montag nicht im B=FCro.\r\n";

const std::string kOddFields =
    "Subject : obsolete space before the colon\r\n"
    "X-Trailing: value with trailing blanks \t \r\n"
    "X-Empty:\r\n"
    "X-Folded-Empty:\r\n"
    " \r\n"
    "X-Colons: a: b: c\r\n"
    "X-8bit: caf\xc3\xa9 \xff\r\n"
    "Content-Type: multipart/alternative;\r\n"
    "    boundary=\"ALT\"\r\n"
    "\r\n"
    "--ALT\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "plain\r\n"
    "--ALT\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>html</p>\r\n"
    "--ALT--\r\n";

TEST(ParseMessageFields, SameAsTheTextTheyStandFor) {
  for (const auto& [name, raw] : std::vector<std::pair<std::string, std::string>>{
           {"dsn", kDsn}, {"plain", kPlain}, {"rfc2047", kEncoded}, {"odd fields", kOddFields}}) {
    expect_same_both_folds(raw, kDefaultLimits, name);
  }
}

// Limits hit in the middle of a field, on a field boundary and on the empty line.
TEST(ParseMessageFields, SameUnderHeaderLimits) {
  for (const std::string& raw : {kDsn, kPlain, kEncoded, kOddFields}) {
    const std::size_t section = std::min(raw.find("\n\n"), raw.find("\r\n\r\n"));
    for (std::size_t bytes = 1; bytes <= section + 8; ++bytes) {
      Limits l;
      l.max_header_bytes = bytes;
      expect_same_both_folds(raw, l, "max_header_bytes " + std::to_string(bytes));
    }
    for (std::size_t count = 0; count <= 12; ++count) {
      Limits l;
      l.max_header_count = count;
      expect_same_both_folds(raw, l, "max_header_count " + std::to_string(count));
    }
    for (std::size_t field = 0; field <= 80; field += 3) {
      Limits l;
      l.max_field_bytes = field;
      expect_same_both_folds(raw, l, "max_field_bytes " + std::to_string(field));
    }
  }
}

// Fields whose text would not be a header section of those fields: parsed
// as that text, with the same result.
TEST(ParseMessageFields, FieldsThatAreNotASectionOnTheirOwn) {
  const std::vector<Split> cases = {
      {{}, "no header fields at all\r\n"},
      {{{"Subject", "an empty line\r\n\r\ninside"}, {"To", "a@b.example"}}, "body\r\n"},
      {{{"Subject", "ends in a line break\n"}, {"To", "a@b.example"}}, "body\r\n"},
      {{{"Subject", "lf\n\nlf"}}, "body\n"},
      {{{"Sub\nject", "a name with a line break"}}, "body\r\n"},
  };
  for (const auto& s : cases) {
    EXPECT_FALSE(parse_header_fields(s.views()).has_value()) << s.text();
    expect_same(s, kDefaultLimits, s.text());
  }
  // A value ending in LF CR is not an empty line: read as fields.
  Split cr{{{"Subject", "x\n\r"}, {"To", "a@b.example"}}, "body\r\n"};
  EXPECT_TRUE(parse_header_fields(cr.views()).has_value());
  expect_same(cr, kDefaultLimits, "LF CR at the end of a value");
}

// Arbitrary fields from a small alphabet of the bytes that matter, under
// small limits.
TEST(ParseMessageFields, RandomFieldsAgree) {
  std::mt19937 rng(20261128);
  const std::string alphabet = "ab:: \t\t\r\r\n\n=?X";
  auto pick = [&](std::size_t max_len) {
    std::string s(std::uniform_int_distribution<std::size_t>(0, max_len)(rng), 'a');
    for (char& c : s) c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    return s;
  };
  int read_as_fields = 0;
  for (int i = 0; i < 50000; ++i) {
    Split s;
    const int n = std::uniform_int_distribution<int>(0, 6)(rng);
    for (int k = 0; k < n; ++k) {
      std::string name = pick(6);
      if (rng() % 2) name = "X-" + name;  // a plausible name half the time
      s.fields.emplace_back(name, pick(10));
    }
    s.body = rng() % 4 ? "hello\r\n" : "";
    Limits l;
    l.max_header_bytes = std::uniform_int_distribution<std::size_t>(1, 80)(rng);
    l.max_header_count = std::uniform_int_distribution<std::size_t>(0, 6)(rng);
    l.max_field_bytes = std::uniform_int_distribution<std::size_t>(0, 24)(rng);
    const auto views = s.views();
    if (auto hp = parse_header_fields(views, l)) {
      ++read_as_fields;
      const HeaderParse ht = parse_header_section(s.text(), l);
      std::ostringstream a, b;
      dump_headers(a, hp->headers);
      dump_headers(b, ht.headers);
      ASSERT_EQ(a.str(), b.str()) << i;
      ASSERT_EQ(hp->conditions, ht.conditions) << i;
      ASSERT_EQ(hp->body_offset, ht.body_offset) << i;
    }
    if (i % 50 == 0) {
      ASSERT_EQ(dump(parse_message(views, s.body, l)), dump(parse_message(s.text(), l))) << i;
    }
  }
  EXPECT_GT(read_as_fields, 5000);  // both ways are taken often
  EXPECT_LT(read_as_fields, 45000);
}

TEST(ParseMessageFields, SampleMessagesAgree) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(BACKSTOP_SOURCE_DIR) + "/tests/samples")) {
    if (e.path().extension() != ".eml") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    expect_same_both_folds(ss.str(), kDefaultLimits, e.path().filename().string());
    ++n;
  }
  EXPECT_GT(n, 10);
}

// The labelled corpora, when this checkout has them next to it.
TEST(ParseMessageFields, SharedCorporaAgree) {
  const char* shared = std::getenv("BACKSTOP_SHARED");
  if (shared == nullptr || !std::filesystem::is_directory(std::string(shared) + "/corpora")) {
    GTEST_SKIP() << "no ../shared/corpora";
  }
  auto src = open_source(std::string(shared) + "/corpora");
  ASSERT_TRUE(src) << src.error().message();
  int n = 0;
  while (auto next = (*src)->next()) {
    if (!*next) continue;
    const RawMessage& raw = **next;
    const std::string what = raw.location + "#" + std::to_string(raw.index);
    expect_same(split(raw.bytes, Fold::kLf), kDefaultLimits, what);
    if (::testing::Test::HasFailure()) break;  // one message's diff is enough
    ++n;
  }
  EXPECT_GT(n, 1000);
}

}  // namespace
}  // namespace backstop::mail
