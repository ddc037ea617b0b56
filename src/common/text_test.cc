#include "common/text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace backstop::text {
namespace {

TEST(Text, AsciiLowerTouchesOnlyAsciiLetters) {
  EXPECT_EQ(ascii_lower("MiXeD-Case_09@Example.ORG"), "mixed-case_09@example.org");
  EXPECT_EQ(ascii_lower("\xC3\x89T\xC3\x89"), "\xC3\x89t\xC3\x89") << "UTF-8 bytes unchanged";
  EXPECT_EQ(ascii_lower(std::string("A\0B", 3)), std::string("a\0b", 3));
  EXPECT_EQ(ascii_lower(""), "");
  EXPECT_EQ(ascii_lower('Z'), 'z');
  EXPECT_EQ(ascii_lower('['), '[');
  EXPECT_EQ(ascii_lower('@'), '@');
}

TEST(Text, CaseInsensitiveCompare) {
  EXPECT_TRUE(iequals("Content-Type", "content-TYPE"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("abc", "abcd"));
  EXPECT_FALSE(iequals("[", "{")) << "only letters fold";
  EXPECT_FALSE(iequals("\xC3\xA9", "\xC3\x89")) << "no folding beyond ASCII";
  EXPECT_TRUE(istarts_with("PRVS=1234", "prvs="));
  EXPECT_TRUE(istarts_with("x", ""));
  EXPECT_FALSE(istarts_with("prv", "prvs="));
  EXPECT_FALSE(istarts_with("srs0=", "prvs="));
}

TEST(Text, TrimRemovesAsciiWhitespaceAtBothEnds) {
  EXPECT_EQ(trim(" \t\r\n\v\fword  inner \f\v\n\r\t "), "word  inner");
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("x"), "x");
  EXPECT_EQ(trim("\xC2\xA0x\xC2\xA0"), "\xC2\xA0x\xC2\xA0") << "no-break space is not ASCII whitespace";
  EXPECT_EQ(trim(std::string_view("\0x\0", 3)), std::string_view("\0x\0", 3));
}

TEST(Text, StripBracketsRemovesOneEnclosingPair) {
  struct Case { std::string_view in, out; };
  for (const Case& c : {Case{"<a@b>", "a@b"}, Case{"<>", ""}, Case{"<<a>>", "<a>"}, Case{"a@b", "a@b"},
                        Case{"<a@b", "<a@b"}, Case{"a@b>", "a@b>"}, Case{"<", "<"}, Case{">", ">"},
                        Case{"", ""}}) {
    EXPECT_EQ(strip_brackets(c.in), c.out) << c.in;
  }
  EXPECT_EQ(strip_brackets("[192.0.2.1]", '[', ']'), "192.0.2.1");
  EXPECT_EQ(strip_brackets("<192.0.2.1>", '[', ']'), "<192.0.2.1>");
}

TEST(Text, Utf8SequenceLengths) {
  EXPECT_EQ(utf8_sequence_length("a", 0), 1u);
  EXPECT_EQ(utf8_sequence_length("\xC3\xA9", 0), 2u);
  EXPECT_EQ(utf8_sequence_length("\xE2\x82\xAC", 0), 3u);
  EXPECT_EQ(utf8_sequence_length("\xF0\x9F\x93\xA7", 0), 4u);
  EXPECT_EQ(utf8_sequence_length("\xC0\xAF", 0), 0u) << "overlong";
  EXPECT_EQ(utf8_sequence_length("\xE0\x80\xAF", 0), 0u) << "overlong";
  EXPECT_EQ(utf8_sequence_length("\xED\xA0\x80", 0), 0u) << "surrogate";
  EXPECT_EQ(utf8_sequence_length("\xF4\x90\x80\x80", 0), 0u) << "above U+10FFFF";
  EXPECT_EQ(utf8_sequence_length("\xF5\x80\x80\x80", 0), 0u);
  EXPECT_EQ(utf8_sequence_length("\x80", 0), 0u) << "lone continuation byte";
  EXPECT_EQ(utf8_sequence_length("\xE2\x82", 0), 0u) << "truncated at the end";
  EXPECT_EQ(utf8_sequence_length("\xE2" "a\xAC", 0), 0u);
  EXPECT_EQ(utf8_sequence_length("x\xC3\xA9", 1), 2u);
}

TEST(Text, SanitizeUtf8KeepsValidAndReplacesInvalid) {
  const std::string valid = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\xA7 long enough for the ASCII fast path";
  EXPECT_EQ(sanitize_utf8(valid), valid);
  EXPECT_EQ(sanitize_utf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8("0123456789abcdef\xE2\x82"), "0123456789abcdef\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8(""), "");
  std::string out = "kept:";
  append_utf8_sanitized(out, "\xFE");
  EXPECT_EQ(out, "kept:\xEF\xBF\xBD");
}

TEST(Text, QuoteEscapesForJsonAndToml) {
  EXPECT_EQ(quote(""), "\"\"");
  EXPECT_EQ(quote("plain text"), "\"plain text\"");
  EXPECT_EQ(quote("a\"b\\c\nd\x01"), "\"a\\\"b\\\\c\\nd\\u0001\"");
  EXPECT_EQ(quote("\b\t\n\f\r"), "\"\\b\\t\\n\\f\\r\"");
  EXPECT_EQ(quote(std::string("\0\x1F\x7F", 3)), "\"\\u0000\\u001f\\u007f\"");
  EXPECT_EQ(quote("caf\xC3\xA9"), "\"caf\xC3\xA9\"") << "valid UTF-8 passes through";
  EXPECT_EQ(quote("bad\xFF\xC3"), "\"bad\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(quote("/"), "\"/\"");
  EXPECT_EQ(quote("<a> & \xE2\x80\xA8"), "\"<a> & \xE2\x80\xA8\"");
}

TEST(Text, ScriptSafeQuoteAlsoEscapesMarkupAndLineSeparators) {
  EXPECT_EQ(quote("</script>&", Quote::kScriptSafe), "\"\\u003c/script\\u003e\\u0026\"");
  EXPECT_EQ(quote("\xE2\x80\xA8\xE2\x80\xA9", Quote::kScriptSafe), "\"\\u2028\\u2029\"");
  EXPECT_EQ(quote("\xE2\x80\xA7", Quote::kScriptSafe), "\"\xE2\x80\xA7\"");
  std::string out = "x=";
  append_quoted(out, "q\"", Quote::kScriptSafe);
  EXPECT_EQ(out, "x=\"q\\\"\"");
}

TEST(Text, QuoteOfEveryByteHasNoRawControlOrInvalidByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (Quote how : {Quote::kPlain, Quote::kScriptSafe}) {
    const std::string lit = quote(all, how);
    ASSERT_GE(lit.size(), 2u);
    EXPECT_EQ(lit.front(), '"');
    EXPECT_EQ(lit.back(), '"');
    EXPECT_EQ(sanitize_utf8(lit), lit);
    for (char c : lit) {
      const auto u = static_cast<unsigned char>(c);
      EXPECT_TRUE(u >= 0x20 && u != 0x7F) << static_cast<int>(u);
    }
    // Every '"' inside is escaped.
    for (std::size_t i = 1; i + 1 < lit.size(); ++i) {
      if (lit[i] == '"') {
        std::size_t backslashes = 0;
        for (std::size_t j = i; j > 0 && lit[j - 1] == '\\'; --j) ++backslashes;
        EXPECT_EQ(backslashes % 2, 1u) << i;
      }
    }
  }
}

TEST(Text, IsoTime) {
  EXPECT_EQ(iso_time(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(iso_time(1700000000), "2023-11-14T22:13:20Z");
  EXPECT_EQ(iso_time(951782400), "2000-02-29T00:00:00Z");
  EXPECT_EQ(iso_time(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(iso_time(INT64_MAX), std::to_string(INT64_MAX)) << "unrepresentable: the number";
}

TEST(Text, LogSafeEscapesWhatCouldForgeALine) {
  EXPECT_EQ(log_safe("plain <id@x> café"), "plain <id@x> café");
  EXPECT_EQ(log_safe("a\r\nrole=outbound forged"), "a\\x0d\\x0arole=outbound forged");
  EXPECT_EQ(log_safe(std::string("nul\0del\x7f", 8)), "nul\\x00del\\x7f");
  EXPECT_EQ(log_safe("tab\there"), "tab\\x09here");
  EXPECT_EQ(log_safe("back\\slash"), "back\\\\slash");  // so \x0a in a peer's text stays distinct
  EXPECT_EQ(log_safe("bad \xff utf8"), "bad \\xff utf8");
  EXPECT_EQ(log_safe(""), "");
}

TEST(Text, HtmlEscapeLeavesNoMarkup) {
  EXPECT_EQ(html_escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;");
  // Attribute breakers: neither quote survives, nor does a tag start.
  EXPECT_EQ(html_escape("\" onmouseover=\"alert(1)\" x='"), "&quot; onmouseover=&quot;alert(1)&quot; x=&#39;");
  EXPECT_EQ(html_escape("</textarea><img src=x onerror=alert(1)>"),
            "&lt;/textarea&gt;&lt;img src=x onerror=alert(1)&gt;");
  // Controls and NUL become U+FFFD; tab and LF stay.
  EXPECT_EQ(html_escape(std::string("a\0b\x1b[2J\r\x7f\tc\n", 12)),
            "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "[2J\xEF\xBF\xBD\xEF\xBF\xBD\tc\n");
  // Broken encodings: invalid UTF-8, overlongs ("<" as C0 BC), surrogates,
  // truncated sequences become U+FFFD, never a byte a parser could misread.
  EXPECT_EQ(html_escape("\xC0\xBC" "script"), "\xEF\xBF\xBD\xEF\xBF\xBDscript");
  EXPECT_EQ(html_escape("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(html_escape("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(html_escape("caf\xC3\xA9 \xE2\x82\xAC"), "caf\xC3\xA9 \xE2\x82\xAC") << "valid UTF-8 passes";
  // UTF-7 and entity tricks stay inert text.
  EXPECT_EQ(html_escape("+ADw-script+AD4-"), "+ADw-script+AD4-");
  EXPECT_EQ(html_escape("&lt;script&gt;"), "&amp;lt;script&amp;gt;");
}

TEST(Text, HtmlEscapeOfEveryByteAndALargeInput) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (const std::string& in : {all, std::string(100 * 1024, '<') + all + std::string(100 * 1024, '\'')}) {
    const std::string out = html_escape(in);
    EXPECT_EQ(out.find_first_of("<>\"'"), std::string::npos);
    EXPECT_EQ(sanitize_utf8(out), out) << "valid UTF-8";
    for (unsigned char c : out) EXPECT_TRUE(c >= 0x20 || c == '\t' || c == '\n') << int(c);
    // Every '&' starts one of our references.
    for (std::size_t i = out.find('&'); i != std::string::npos; i = out.find('&', i + 1)) {
      const std::string_view rest = std::string_view(out).substr(i);
      EXPECT_TRUE(rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;") ||
                  rest.starts_with("&quot;") || rest.starts_with("&#39;"));
    }
  }
}

}  // namespace
}  // namespace backstop::text
