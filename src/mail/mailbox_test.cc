#include "mail/mailbox.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace backstop::mail {
namespace {

std::vector<Result<RawMessage>> split(std::string_view in, std::size_t chunk, std::size_t cap = kMaxMessageBytes) {
  MboxSplitter s(cap);
  std::vector<Result<RawMessage>> out;
  for (std::size_t i = 0; i < in.size(); i += chunk) {
    s.feed(in.substr(i, chunk));
    while (auto m = s.next()) out.push_back(std::move(*m));
  }
  s.finish();
  while (auto m = s.next()) out.push_back(std::move(*m));
  return out;
}

const char kMbox[] =
    "From alice@example.com Thu Sep 18 17:54:04 2008\n"
    "Subject: one\n"
    "\n"
    "body one\n"
    ">From quoted\n"
    ">>From twice\n"
    "\n"
    "From MAILER-DAEMON  Mon Feb  9 12:36:39 2009\n"
    "Subject: two\n"
    "\n"
    "From this line is not a separator because it has no date\n"
    "\n";

TEST(MboxSplitter, SplitsInAnyChunking) {
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u, 100000u}) {
    auto out = split(kMbox, chunk);
    ASSERT_EQ(out.size(), 2u) << chunk;
    ASSERT_TRUE(out[0].has_value());
    ASSERT_TRUE(out[1].has_value());
    EXPECT_EQ(out[0]->envelope_from, "alice@example.com");
    EXPECT_EQ(out[0]->bytes, "Subject: one\n\nbody one\nFrom quoted\n>From twice\n");
    EXPECT_EQ(out[0]->index, 0u);
    EXPECT_EQ(out[0]->offset, 0u);
    EXPECT_EQ(out[1]->envelope_from, "MAILER-DAEMON");
    EXPECT_EQ(out[1]->bytes, "Subject: two\n\nFrom this line is not a separator because it has no date\n");
    EXPECT_EQ(out[1]->index, 1u);
    EXPECT_EQ(out[1]->offset, std::string_view(kMbox).find("From MAILER"));
  }
}

// Random mboxes of the lines that steer the splitter (From_ lines, quoted
// ones, empty lines, MIME delimiters and part headers, "...:" lines, base64)
// split the same whether fed a byte at a time (every line held back and read
// one by one) or in 1 MiB pieces (runs of plain lines taken at once).
TEST(MboxSplitter, PlainLineRunsSplitAsLineByLine) {
  // Single lines and the sequences that make a part body's first line.
  static const char* kLines[] = {
      "From alice@example.com Thu Sep 18 17:54:04 2008", ">From quoted Thu Sep 18 17:54:04 2008",
      "", "\r", "Subject: x", "Content-Type: multipart/mixed; boundary=b", "Content-Type: message/rfc822",
      "--b", "--b--", "The original message follows:", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", " folded",
      "\tfolded", "plain words", "From this line has no date", "-- ", "ends with colon: ",
      "From a@example.org Thu Sep 18 17:54:04 2008\nContent-Type: multipart/mixed; boundary=b\n\nintro",
      "QUJD\n--b\nContent-Type: message/rfc822\n\nFrom inner@example.org Thu Sep 18 17:54:04 2008",
      "text\n--b\nContent-Type: text/plain\n\nFrom x@example.org Thu Sep 18 17:54:04 2008",
  };
  std::uint32_t x = 16;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  for (int round = 0; round < 200; ++round) {
    std::string in;
    const int lines = static_cast<int>(next() % 200);
    for (int i = 0; i < lines; ++i) {
      const std::string_view eol = next() % 4 == 0 ? "\r\n" : "\n";
      for (char c : std::string_view(kLines[next() % (sizeof kLines / sizeof kLines[0])])) {
        if (c == '\n') in += eol;
        else in += c;
      }
      in += eol;
    }
    const auto slow = split(in, 1);
    const auto fast = split(in, 1u << 20);
    ASSERT_EQ(slow.size(), fast.size()) << in;
    for (std::size_t i = 0; i < slow.size(); ++i) {
      ASSERT_EQ(slow[i].has_value(), fast[i].has_value()) << in;
      if (!slow[i]) continue;
      EXPECT_EQ(slow[i]->bytes, fast[i]->bytes) << in;
      EXPECT_EQ(slow[i]->envelope_from, fast[i]->envelope_from);
      EXPECT_EQ(slow[i]->index, fast[i]->index);
      EXPECT_EQ(slow[i]->offset, fast[i]->offset);
    }
  }
}

TEST(MboxSplitter, OversizeMessageIsReportedAndSkipped) {
  std::string in = "From a Thu Sep 18 17:54:04 2008\nSubject: big\n\n";
  in += std::string(5000, 'x') + "\n\n";
  in += "From b Thu Sep 18 17:54:04 2008\nSubject: small\n\nok\n";
  auto out = split(in, 100, 1024);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_FALSE(out[0].has_value());
  EXPECT_EQ(out[0].error().code(), Code::kTooLarge);
  ASSERT_TRUE(out[1].has_value());
  EXPECT_EQ(out[1]->bytes, "Subject: small\n\nok\n");
  EXPECT_EQ(out[1]->index, 1u);
}

}  // namespace
}  // namespace backstop::mail

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace backstop::mail {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "backstop-mail-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string write(const std::string& rel, std::string_view bytes) const {
    const fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p.string();
  }
  void mkdir(const std::string& rel) const { fs::create_directories(path_ / rel); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

struct Drained {
  std::vector<RawMessage> messages;
  std::vector<ReadError> errors;
};

Drained drain(const std::string& path, std::size_t cap = kMaxMessageBytes) {
  Drained d;
  auto src = open_source(path, cap);
  if (!src) {
    ADD_FAILURE() << src.error().to_string();
    return d;
  }
  for (int guard = 0; guard < 100000; ++guard) {
    auto r = (*src)->next();
    if (!r) break;
    if (*r) d.messages.push_back(std::move(**r));
    else d.errors.push_back(std::move(*r).error());
  }
  return d;
}

std::string rel(const TempDir& t, const std::string& p) { return fs::relative(p, t.str()).string(); }

TEST(Readers, MaildirReadsCurAndNewNeverTmp) {
  TempDir t;
  t.write("cur/1700000000.a:2,S", "Subject: a\n\nA\n");
  t.write("new/1700000001.b", "Subject: b\r\n\r\nB\r\n");
  t.write("tmp/1700000002.c", "Subject: c\n\nC\n");
  t.write("dovecot-uidlist", "3 V1 N4\n");
  t.write(".Sub/cur/1700000003.d", "Subject: d\n\nD\n");
  t.write(".Sub/maildirfolder", "");
  ASSERT_EQ(*detect_store(t.str()), StoreKind::kMaildir);
  const Drained d = drain(t.str());
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.messages.size(), 3u);
  EXPECT_EQ(rel(t, d.messages[0].location), "cur/1700000000.a:2,S");
  EXPECT_EQ(rel(t, d.messages[1].location), "new/1700000001.b");
  EXPECT_EQ(rel(t, d.messages[2].location), ".Sub/cur/1700000003.d");
  EXPECT_EQ(d.messages[1].bytes, "Subject: b\r\n\r\nB\r\n");
}

TEST(Readers, MhFolderInNumericOrder) {
  TempDir t;
  for (int n : {10, 2, 1}) t.write(std::to_string(n), "Subject: " + std::to_string(n) + "\n\nx\n");
  t.write(".mh_sequences", "unseen: 1-10\n");
  ASSERT_EQ(*detect_store(t.str()), StoreKind::kMh);
  const Drained d = drain(t.str());
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.messages.size(), 3u);
  EXPECT_EQ(rel(t, d.messages[0].location), "1");
  EXPECT_EQ(rel(t, d.messages[1].location), "2");
  EXPECT_EQ(rel(t, d.messages[2].location), "10");
}

TEST(Readers, DirectoryTreeDecidesByContentAndGoesOn) {
  TempDir t;
  t.write("LABELS.tsv", "file\tlabel\na.eml\tham\n");
  t.write("README.md", "# Corpus\n\nSome words.\n");
  t.write("a/binary.bin", std::string("\x89PNG\r\n\x1a\n\0\0", 10));
  t.write("a/empty.eml", "");
  t.write("a/box.mbox", "From x@y Thu Sep 18 17:54:04 2008\nSubject: 1\n\none\n\nFrom z@y Thu Sep 18 17:54:05 2008\nSubject: 2\n\ntwo\n");
  t.write("b/msg.msg", "\n   \nReturn-Path: <>\r\nSubject: leading blank lines\r\n\r\nbody\r\n");
  ASSERT_EQ(*detect_store(t.str()), StoreKind::kDirectory);
  const Drained d = drain(t.str());
  ASSERT_EQ(d.messages.size(), 3u);
  EXPECT_EQ(rel(t, d.messages[0].location), "a/box.mbox");
  EXPECT_EQ(d.messages[0].index, 0u);
  EXPECT_EQ(d.messages[1].index, 1u);
  EXPECT_EQ(d.messages[1].bytes, "Subject: 2\n\ntwo\n");
  EXPECT_EQ(rel(t, d.messages[2].location), "b/msg.msg");
  ASSERT_EQ(d.errors.size(), 4u);  // LABELS.tsv, README.md, binary, empty
  for (const ReadError& e : d.errors) {
    EXPECT_EQ(e.error.code(), Code::kMalformed) << e.location;
    EXPECT_NE(e.error.message().find("not a mail message"), std::string::npos) << e.error.message();
  }
  EXPECT_EQ(rel(t, d.errors[0].location), "LABELS.tsv");
  EXPECT_EQ(rel(t, d.errors[2].location), "a/binary.bin");
}

TEST(Readers, MboxFileWithOversizeMessageGoesOn) {
  TempDir t;
  std::string box = "From a@x Thu Sep 18 17:54:04 2008\r\nSubject: big\r\n\r\n";
  for (int i = 0; i < 3000; ++i) box += "0123456789012345678901234567890123456789\r\n";
  box += "\r\nFrom b@x Thu Sep 18 17:54:05 2008\r\nSubject: small\r\n\r\nok\r\n";
  const std::string path = t.write("box", box);
  ASSERT_EQ(*detect_store(path), StoreKind::kMbox);
  const Drained d = drain(path, 64 * 1024);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].error.code(), Code::kTooLarge);
  EXPECT_EQ(d.errors[0].index, 0u);
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0].index, 1u);
  EXPECT_EQ(d.messages[0].envelope_from, "b@x");
  EXPECT_EQ(d.messages[0].bytes, "Subject: small\r\n\r\nok\r\n");
}

TEST(Readers, SingleFileOverCapIsTooLarge) {
  TempDir t;
  const std::string path = t.write("big.eml", "Subject: x\n\n" + std::string(10000, 'x'));
  const Drained d = drain(path, 4096);
  EXPECT_TRUE(d.messages.empty());
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].error.code(), Code::kTooLarge);
}

TEST(Readers, MboxOfOnlyFromLines) {
  TempDir t;
  const std::string path = t.write("froms", "From a Thu Sep 18 17:54:04 2008\nFrom b Thu Sep 18 17:54:04 2008\n"
                                            "From c Thu Sep 18 17:54:04 2008\n");
  const Drained d = drain(path);
  EXPECT_TRUE(d.messages.empty());
  ASSERT_EQ(d.errors.size(), 3u);
  for (const ReadError& e : d.errors) EXPECT_EQ(e.error.code(), Code::kMalformed);
}

TEST(Readers, BinaryEntryInsideMboxIsReported) {
  TempDir t;
  const std::string path = t.write("mixed", "From a Thu Sep 18 17:54:04 2008\n" + std::string("\x01\x02\x00\xff", 4) +
                                                " binary\n\nFrom b Thu Sep 18 17:54:04 2008\nSubject: fine\n\nok\n");
  const Drained d = drain(path);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].index, 0u);
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0].bytes, "Subject: fine\n\nok\n");
}

TEST(Readers, MissingPathIsNotFound) {
  auto src = open_source("/nonexistent/backstop/path");
  ASSERT_FALSE(src.has_value());
  EXPECT_EQ(src.error().code(), Code::kNotFound);
  EXPECT_FALSE(detect_store("/nonexistent/backstop/path").has_value());
}

TEST(MboxSplitter, HugeLineWithoutNewlineIsBounded) {
  MboxSplitter s(1 << 20);
  s.feed("From a Thu Sep 18 17:54:04 2008\nSubject: x\n\n");
  const std::string chunk(1 << 16, 'y');
  for (int i = 0; i < 160; ++i) s.feed(chunk);  // 10 MiB in one line
  s.feed("\n\nFrom b Thu Sep 18 17:54:04 2008\nSubject: y\n\nz\n");
  s.finish();
  auto first = s.next();
  ASSERT_TRUE(first.has_value());
  ASSERT_FALSE(first->has_value());
  EXPECT_EQ(first->error().code(), Code::kTooLarge);
  auto second = s.next();
  ASSERT_TRUE(second.has_value() && second->has_value());
  EXPECT_EQ((*second)->bytes, "Subject: y\n\nz\n");
  EXPECT_EQ((*second)->offset, 44u + (10u << 20) + 2u);
  EXPECT_FALSE(s.next().has_value());
}

TEST(MboxSplitter, FromLineStartingAPartBodyIsNotASeparator) {
  const std::string in =
      "From a Thu Sep 18 17:54:04 2008\nContent-Type: multipart/mixed;\n boundary=\"zz\"\n\n--zz\n"
      "Content-Type: message/rfc822\nContent-Description: original\n\nFrom b Thu Sep 18 17:54:04 2008\n"
      "Subject: inner\n\nhi\n\n--zz--\n\n"
      "From d Thu Sep 18 17:54:04 2008\nSubject: next\n\nok\n";
  for (std::size_t chunk : {1u, 5u, 100000u}) {
    auto out = split(in, chunk);
    ASSERT_EQ(out.size(), 2u) << chunk;
    ASSERT_TRUE(out[0].has_value() && out[1].has_value());
    EXPECT_NE(out[0]->bytes.find("From b"), std::string::npos);
    EXPECT_EQ(out[1]->envelope_from, "d");
  }
}

TEST(MboxSplitter, FromLineStartingANestedPartBodyIsNotASeparator) {
  const std::string in =
      "From a Thu Sep 18 17:54:04 2008\nContent-Type: multipart/mixed; boundary=outer\n\n--outer\n"
      "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"inner\"\n\n--inner\n"
      "Content-Type: text/plain\n\nfailed\n\n--inner\nContent-Type: message/rfc822\n\n"
      "From b Thu Sep 18 17:54:04 2008\nSubject: original\n\nhi\n\n--inner--\n\n--outer--\n\n"
      "From c Thu Sep 18 17:54:04 2008\nSubject: next\n\nok\n";
  auto out = split(in, 7);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].has_value() && out[1].has_value());
  EXPECT_NE(out[0]->bytes.find("Subject: original"), std::string::npos);
  EXPECT_EQ(out[1]->envelope_from, "c");
}

// Good messages, one of them multipart, numbered from `first`.
std::string good_messages(std::size_t first, std::size_t n) {
  std::string out;
  for (std::size_t i = first; i < first + n; ++i) {
    out += "From m" + std::to_string(i) + "@x Thu Sep 18 17:54:04 2008\nSubject: " + std::to_string(i) + "\n";
    if (i % 3 == 0) {
      out += "Content-Type: multipart/alternative; boundary=\"b" + std::to_string(i) + "\"\n\n--b" +
             std::to_string(i) + "\nContent-Type: text/plain\n\nhello\n\n--b" + std::to_string(i) + "--\n\n";
    } else {
      out += "\nhello\n\n";
    }
  }
  return out;
}

TEST(MboxSplitter, UnclosedMultipartDoesNotSwallowTheRest) {
  // The top-level multipart is never closed (truncated or broken writer),
  // and its body holds a From_ line after an empty line.
  std::string in =
      "From broken@x Thu Sep 18 17:54:04 2008\nContent-Type: multipart/mixed; boundary=\"never\"\n\n"
      "--never\nContent-Type: text/plain\n\ntext\n\n"
      "From this Thu Sep 18 17:54:04 2008 is a body line after an empty line\n\n";
  constexpr std::size_t kGood = 1000;
  in += good_messages(0, kGood);
  for (std::size_t chunk : {3u, 4096u, 1u << 20}) {
    auto out = split(in, chunk);
    ASSERT_EQ(out.size(), kGood + 2) << chunk;  // the body From_ line starts a message of its own
    for (std::size_t i = 0; i < kGood; ++i) {
      ASSERT_TRUE(out[i + 2].has_value());
      EXPECT_EQ(out[i + 2]->envelope_from, "m" + std::to_string(i) + "@x");
      EXPECT_EQ(out[i + 2]->bytes.substr(0, 9 + std::to_string(i).size()), "Subject: " + std::to_string(i));
    }
  }
}

TEST(MboxSplitter, MessageEndingInABarePartHeaderAbsorbsAtMostOne) {
  // Truncated right after a part's header lines: the next From_ line sits
  // where an embedded original would, so it cannot be told apart; the one
  // after it is a separator again.
  std::string in =
      "From cut@x Thu Sep 18 17:54:04 2008\nContent-Type: multipart/report; boundary=\"r\"\n\n"
      "--r\nContent-Type: message/rfc822\n\n";
  constexpr std::size_t kGood = 500;
  in += good_messages(1, kGood);  // 1: the first is not multipart
  auto out = split(in, 4096);
  ASSERT_EQ(out.size(), kGood);
  ASSERT_TRUE(out[0].has_value());
  EXPECT_EQ(out[0]->envelope_from, "cut@x");
  EXPECT_NE(out[0]->bytes.find("Subject: 1\n"), std::string::npos);
  for (std::size_t i = 1; i < kGood; ++i) {
    ASSERT_TRUE(out[i].has_value());
    EXPECT_EQ(out[i]->envelope_from, "m" + std::to_string(i + 1) + "@x");
  }
}

TEST(MboxSplitter, QuotedOriginalAfterColonLineIsNotASeparator) {
  const std::string in =
      "From a Thu Sep 18 17:54:04 2008\nSubject: challenge\n\nThe original message follows:\n\n"
      "From b Thu Sep 18 17:54:04 2008\nSubject: original\n\nhi\n\n"
      "From c Thu Sep 18 17:54:04 2008\nSubject: next\n\nok\n";
  auto out = split(in, 3);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].has_value() && out[1].has_value());
  EXPECT_NE(out[0]->bytes.find("Subject: original"), std::string::npos);
  EXPECT_EQ(out[1]->envelope_from, "c");
}

TEST(MboxSplitter, TextBeforeFirstFromLineIsAMessage) {
  auto out = split("Subject: no from line\n\nbody\n", 4);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].has_value());
  EXPECT_EQ(out[0]->envelope_from, "");
  EXPECT_EQ(out[0]->bytes, "Subject: no from line\n\nbody\n");
}

TEST(StoreKind, Names) {
  EXPECT_STREQ(store_kind_name(StoreKind::kMbox), "mbox");
  EXPECT_STREQ(store_kind_name(StoreKind::kMaildir), "maildir");
}

}  // namespace
}  // namespace backstop::mail
