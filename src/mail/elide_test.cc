#include "mail/elide.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "mail/mailbox.h"
#include "mail/message.h"
#include "mail/message_diff.h"

namespace backstop::mail {
namespace {

std::string base64_lines(std::size_t lines) {
  std::string out;
  for (std::size_t i = 0; i < lines; ++i) {
    out += "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
  }
  return out;
}

const std::string kList =
    "From: Some One <someone@example.org>\r\n"
    "To: dev@lists.example.org\r\n"
    "Subject: slides\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=inner\r\n"
    "\r\n"
    "--inner\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "The slides are attached.\r\n"
    "--inner\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>The slides are attached.</p>\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: application/pdf;\r\n"
    "\tname=\"slides.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename=\"slides.pdf\"\r\n"
    "\r\n" +
    base64_lines(250) +
    "--outer\r\n"
    "Content-Type: image/png\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n" +
    base64_lines(3) +
    "--outer--\r\n"
    "epilogue\r\n";

void expect_same_parse(const std::string& raw) {
  auto fast = parse_message(raw);
  auto whole = detail::parse_message_whole(raw);
  ASSERT_EQ(fast.has_value(), whole.has_value());
  if (!fast) return;
  EXPECT_EQ(detail::message_difference(*fast, *whole), "") << raw;
}

TEST(Elide, AttachmentContentLeftOutWithItsLength) {
  const std::size_t at = kList.find("\r\n\r\n");
  const std::string_view body = std::string_view(kList).substr(at + 4);
  std::string out;
  detail::append_body_elided(out, body, "outer");
  EXPECT_NE(out.find("The slides are attached."), std::string::npos);
  EXPECT_NE(out.find("<p>The slides"), std::string::npos);
  // The PDF: 250 lines of 78 bytes less the CRLF that belongs to the delimiter.
  EXPECT_NE(out.find("X-Backstop-Elided: 19498\r\n\r\n--outer\r\n"), std::string::npos) << out;
  // The small PNG is kept: leaving 232 bytes out would cost more than it saves.
  EXPECT_NE(out.find("image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64_lines(3) + "--outer--"),
            std::string::npos);
  // Out: the 200 lines with the line break before the delimiter; in: the field.
  EXPECT_EQ(out.size(), body.size() - 19500 + std::string_view("X-Backstop-Elided: 19498\r\n").size());
  EXPECT_NE(out.find("epilogue"), std::string::npos);
}

TEST(Elide, SameMessageAsTheWholeParse) {
  expect_same_parse(kList);
  auto m = parse_message(kList);
  ASSERT_TRUE(m.has_value());
  ASSERT_EQ(m->parts.size(), 6u);
  EXPECT_EQ(m->parts[4].subtype, "pdf");
  EXPECT_EQ(m->parts[4].filename, "slides.pdf");
  EXPECT_EQ(m->parts[4].decoded_size, 19498u / 4 * 3);
}

TEST(Elide, LfOnlyAndMixedLineEnds) {
  std::string lf;
  for (char c : kList) {
    if (c != '\r') lf.push_back(c);
  }
  expect_same_parse(lf);
  std::string mixed = kList;
  mixed.replace(mixed.find("--outer\r\nContent-Type: image/png"), 9, "--outer\n");
  expect_same_parse(mixed);
}

// The whole parse repairs "boundary=" lines after a line ending in ';'
// wherever they are, attachment content included (a tab each): the length
// of elided content counts those tabs (found by fuzz_message in a forwarded
// message quoted inside an RTF attachment).
TEST(Elide, RepairedLinesInsideElidedContentCount) {
  std::string quoted;
  for (int i = 0; i < 3; ++i) quoted += "Content-Type: multipart/mixed;\r\nboundary=\"q" + std::to_string(i) + "\"\r\n";
  std::string raw = kList;
  raw.insert(raw.find("\r\n\r\n", raw.find("slides.pdf\"\r\n\r\n")) + 4, quoted);
  expect_same_parse(raw);
  std::string lf;
  for (char c : raw) {
    if (c != '\r') lf.push_back(c);
  }
  expect_same_parse(lf);
  auto m = parse_message(raw);
  ASSERT_TRUE(m.has_value());
  ASSERT_EQ(m->parts.size(), 6u);
  EXPECT_EQ(m->parts[4].decoded_size, (19498u + quoted.size() + 3) / 4 * 3);
}

TEST(Elide, PartsTheElidderDoesNotReadArePassedThrough) {
  const std::string head =
      "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n";
  const std::vector<std::string> bodies = {
      // Two Content-Type fields: GMime takes the last.
      "--b\r\nContent-Type: application/pdf\r\nContent-Type: text/plain\r\n\r\nwords\r\n--b--\r\n",
      // A broken header line (no colon) ends the header section for GMime.
      "--b\r\nContent-Type: application/pdf\r\nbroken line\r\n\r\nwords\r\n--b--\r\n",
      // A delimiter inside the header section.
      "--b\r\nContent-Type: application/pdf\r\n--b\r\nContent-Type: text/plain\r\n\r\nwords\r\n--b--\r\n",
      // No empty line before the end of the input.
      "--b\r\nContent-Type: application/pdf\r\n",
      // The attachment runs to the end (no closing delimiter).
      "--b\r\nContent-Type: application/pdf\r\n\r\nQUJD\r\nQUJD\r\n",
      // Type without a subtype; a comment before the type.
      "--b\r\nContent-Type: application\r\n\r\nwords\r\n--b--\r\n",
      "--b\r\nContent-Type: (c) application/pdf\r\n\r\nwords\r\n--b--\r\n",
      // Boundary-like lines inside the content: longer, followed by text, closing of a parent.
      "--b\r\nContent-Type: application/pdf\r\n\r\n--bb\r\n--b x\r\n-- b\r\nQUJD\r\n--b  \t\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n",
      // An empty attachment, directly followed by the delimiter.
      "--b\r\nContent-Type: image/gif\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nafter\r\n--b--\r\n",
      // A nested multipart closed by its parent's delimiter.
      "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: image/gif\r\n\r\nR0lG\r\n--b\r\n"
      "Content-Type: text/plain\r\n\r\nafter\r\n--b--\r\n",
      // A nested multipart with the parent's boundary.
      "--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: image/gif\r\n\r\nR0lG\r\n--b--\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nafter\r\n--b--\r\n",
      // A message/rfc822 part holding attachments of its own.
      "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=d\r\n\r\n"
      "--d\r\nContent-Type: application/zip\r\n\r\nUEsD\r\n--d\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--d--\r\n--b--\r\n",
      // The boundary=" parameter on a line of its own (repaired).
      "--b\r\nContent-Type: multipart/alternative;\r\nboundary=\"e\"\r\n\r\n--e\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
      "--e\r\nContent-Type: application/pdf\r\n\r\nJVBE\r\n--e--\r\n--b--\r\n",
      // A boundary with characters GMime reads through (colon, quote).
      "--b\r\nContent-Type: multipart/mixed; boundary=\"a:b'c\"\r\n\r\n--a:b'c\r\nContent-Type: application/pdf\r\n\r\nJVBE\r\n"
      "--a:b'c--\r\n--b--\r\n",
      // A closing delimiter with trailing blanks, then an epilogue with text.
      "--b\r\nContent-Type: application/pdf\r\n\r\nJVBE\r\n--b-- \t\r\nepilogue --b\r\n",
  };
  // Each as written, and with every short content line grown past the
  // elider's minimum (so that the elider does leave content out).
  auto padded = [](std::string b) {
    for (std::string_view token : {"JVBE\r\n", "R0lG\r\n", "UEsD\r\n", "QUJD\r\n"}) {
      for (std::size_t at = b.find(token); at != std::string::npos; at = b.find(token, at + 1)) {
        b.replace(at, token.size(), base64_lines(240));
      }
    }
    return b;
  };
  for (const std::string& b : bodies) {
    expect_same_parse(head + b);
    expect_same_parse(head + padded(b));
  }
}

TEST(Elide, TopLevelNotElidable) {
  // Two top-level Content-Type fields, a boundary with a space, an RFC 2231 boundary.
  expect_same_parse(
      "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Type: multipart/mixed; "
      "boundary=c\r\n\r\n--b\r\nContent-Type: application/pdf\r\n\r\nJVBE\r\n--c\r\nContent-Type: text/plain\r\n\r\n"
      "x\r\n--c--\r\n");
  expect_same_parse(
      "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=\"b c\"\r\n\r\n--b c\r\n"
      "Content-Type: application/pdf\r\n\r\nJVBE\r\n--b c--\r\n");
  expect_same_parse(
      "From: a@example.org\r\nContent-Type: multipart/mixed; boundary*0=b; boundary*1=c\r\n\r\n--bc\r\n"
      "Content-Type: application/pdf\r\n\r\nJVBE\r\n--bc--\r\n");
  std::string out;
  detail::append_body_elided(out, "--b\r\nContent-Type: application/pdf\r\n\r\nJVBE\r\n--b--\r\n", "");
  EXPECT_EQ(out, "--b\r\nContent-Type: application/pdf\r\n\r\nJVBE\r\n--b--\r\n");
}

TEST(Elide, BoundaryParameter) {
  EXPECT_EQ(detail::elidable_multipart_boundary("multipart/mixed; boundary=\"x_1\"").value_or(""), "x_1");
  EXPECT_EQ(detail::elidable_multipart_boundary("Multipart/Report; report-type=x; boundary=y").value_or(""), "y");
  EXPECT_FALSE(detail::elidable_multipart_boundary("text/plain; boundary=x"));
  EXPECT_FALSE(detail::elidable_multipart_boundary("multipart/mixed"));
  EXPECT_FALSE(detail::elidable_multipart_boundary("multipart/mixed; boundary=\"a b\""));
  EXPECT_FALSE(detail::elidable_multipart_boundary("multipart/mixed; boundary=" + std::string(300, 'x')));
}

// Random nestings of multiparts, text, message and attachment parts, with
// damage (missing closings, parent delimiters, junk lines, LF and CRLF):
// the elided parse and the whole parse must agree on every one.
class Gen {
 public:
  explicit Gen(std::uint32_t seed) : x_(seed) {}
  std::uint32_t next() {
    x_ ^= x_ << 13;
    x_ ^= x_ >> 17;
    x_ ^= x_ << 5;
    return x_;
  }
  std::uint32_t below(std::uint32_t n) { return next() % n; }

  std::string entity(int depth, std::vector<std::string>& bounds, const std::string& eol) {
    static const char* kLeaf[] = {"text/plain; charset=utf-8", "text/html", "application/pdf; name=a.pdf",
                                  "image/png",                 "message/delivery-status",
                                  "text/rfc822-headers",       "application/octet-stream",
                                  "audio/ogg",                 "message/rfc822"};
    std::string out;
    if (depth < 4 && below(3) == 0) {
      const std::string b = "b" + std::to_string(bounds.size()) + (below(4) == 0 && !bounds.empty() ? "" : "x");
      out += "Content-Type: multipart/" + std::string(below(2) ? "mixed" : "alternative") + "; boundary=\"" + b +
             "\"" + eol + eol;
      if (below(3) == 0) out += "preamble" + eol;
      bounds.push_back(b);
      const int n = static_cast<int>(below(4));
      for (int i = 0; i < n; ++i) {
        out += "--" + b + eol;
        out += entity(depth + 1, bounds, eol);
      }
      switch (below(5)) {
        case 0: break;                                              // never closed
        case 1: out += "--" + bounds.front() + eol; break;          // a delimiter of the outermost
        default: out += "--" + b + "--" + (below(2) ? "  " : "") + eol;
      }
      bounds.pop_back();
      if (below(4) == 0) out += "epilogue" + eol;
      return out;
    }
    const char* type = kLeaf[below(sizeof kLeaf / sizeof kLeaf[0])];
    if (below(8) != 0) out += std::string("Content-Type: ") + type + eol;
    if (below(2)) out += "Content-Transfer-Encoding: base64" + eol;
    if (below(10) == 0) out += "junk line" + eol;
    out += eol;
    const int lines = static_cast<int>(below(6));
    for (int i = 0; i < lines; ++i) {
      switch (below(6)) {
        case 0: out += "Final-Recipient: rfc822; x@example.org" + eol; break;
        case 1: out += (bounds.empty() ? std::string("--") : "--" + bounds[below(bounds.size())]) + eol; break;
        case 2: out += "Subject: hello" + eol + eol + "body words" + eol; break;
        case 3: out += base64_lines(240); break;  // over the elider's minimum
        default: out += "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=" + eol;
      }
    }
    return out;
  }

 private:
  std::uint32_t x_;
};

TEST(Elide, RandomStructuresParseTheSame) {
  Gen g(16);
  int elided = 0;
  for (int i = 0; i < 1500; ++i) {
    const std::string eol = g.below(3) == 0 ? "\n" : "\r\n";
    std::vector<std::string> bounds;
    std::string raw = "From: a@example.org" + eol + "Subject: t" + eol + "MIME-Version: 1.0" + eol;
    const std::string body = g.entity(0, bounds, eol);
    raw += body;
    {
      auto hp = parse_header_section(raw);
      const auto ct = hp.headers.get("content-type");
      const auto b = ct ? detail::elidable_multipart_boundary(*ct) : std::nullopt;
      std::string out;
      if (b) detail::append_body_elided(out, std::string_view(raw).substr(hp.body_offset), *b);
      if (out.find(detail::kElidedField) != std::string::npos) ++elided;
    }
    auto fast = parse_message(raw);
    auto whole = detail::parse_message_whole(raw);
    ASSERT_EQ(fast.has_value(), whole.has_value());
    if (fast) {
      ASSERT_EQ(detail::message_difference(*fast, *whole), "") << raw;
    }
  }
  EXPECT_GT(elided, 50) << "of 1500";  // the generator does reach the elider
}

// Each message of the labelled corpora, as it is and as the first part of a
// multipart/mixed with an attachment after it (its Content-* fields moved
// into the part, as a list manager adding a footer part does).
TEST(Elide, SharedCorporaParseTheSame) {
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
    auto fast = parse_message(raw.bytes);
    auto whole = detail::parse_message_whole(raw.bytes);
    ASSERT_EQ(fast.has_value(), whole.has_value()) << what;
    if (!fast) continue;
    ASSERT_EQ(detail::message_difference(*fast, *whole), "") << what;
    HeaderParse hp = parse_header_section(raw.bytes);
    std::string wrapped, part;
    for (const HeaderField& f : hp.headers.fields()) {
      const bool mime = f.name.size() > 8 && iequals(std::string_view(f.name).substr(0, 8), "content-");
      (mime ? part : wrapped).append(f.name).append(": ").append(f.value).append("\r\n");
    }
    wrapped += "Content-Type: multipart/mixed; boundary=\"=_wrap\"\r\n\r\n--=_wrap\r\n" + part + "\r\n";
    wrapped.append(std::string_view(raw.bytes).substr(std::min(hp.body_offset, raw.bytes.size())));
    wrapped += "\r\n--=_wrap\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
               base64_lines(240) + "--=_wrap--\r\n";
    fast = parse_message(wrapped);
    whole = detail::parse_message_whole(wrapped);
    ASSERT_TRUE(fast && whole) << what;
    ASSERT_EQ(detail::message_difference(*fast, *whole), "") << what << " wrapped";
    ++n;
  }
  EXPECT_GT(n, 1000);
}

}  // namespace
}  // namespace backstop::mail
