#include "report/text.h"

#include <gtest/gtest.h>

#include <string>

#include "common/text.h"
#include "report/json_check.h"

namespace backstop::report {
namespace {

using testing::parse_json;

// The report writers' JSON strings (common/text.h, script-safe), checked by
// the strict parser the writer tests use.
std::string json_of(std::string_view s, text::Quote how = text::Quote::kScriptSafe) {
  std::string out;
  text::append_quoted(out, s, how);
  return out;
}

TEST(Json, EscapesHostileBytesIntoValidJson) {
  std::string hostile = std::string("q\"b\\s/\n\r\t\b\f") + std::string(1, '\0') +
                        "\x01\x1F\x7F</script>\xE2\x80\xA8\xE2\x80\xA9\xFF\xFE\xC3";
  std::string lit = json_of(hostile);
  auto v = parse_json(lit);
  ASSERT_TRUE(v.has_value()) << lit;
  ASSERT_EQ(v->type, testing::Json::Type::kString);
  // Everything valid comes back unchanged; the invalid tail becomes U+FFFD.
  std::string expected = std::string("q\"b\\s/\n\r\t\b\f") + std::string(1, '\0') +
                         "\x01\x1F\x7F</script>\xE2\x80\xA8\xE2\x80\xA9" +
                         "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD";
  EXPECT_EQ(v->str, expected);
  // No raw markup or line separators survive in the literal itself.
  EXPECT_EQ(lit.find('<'), std::string::npos);
  EXPECT_EQ(lit.find("\xE2\x80\xA8"), std::string::npos);
  EXPECT_EQ(lit.find('\n'), std::string::npos);
}

TEST(Json, EveryByteValueRoundTripsToValidJson) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (text::Quote how : {text::Quote::kPlain, text::Quote::kScriptSafe}) {
    auto v = parse_json(json_of(all, how));
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->str.substr(0, 128), all.substr(0, 128));
  }
}

TEST(Csv, QuotesPerRfc4180) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\r\nlines"), "\"two\r\nlines\"");
  EXPECT_EQ(csv_field(" padded"), "\" padded\"");
  EXPECT_EQ(csv_field("bad\xFF"), "bad\xEF\xBF\xBD");
}

TEST(Csv, NeutralisesFormulaInjection) {
  EXPECT_EQ(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
  EXPECT_EQ(csv_field("+1"), "\"'+1\"");
  EXPECT_EQ(csv_field("@SUM(A1)"), "\"'@SUM(A1)\"");
}

TEST(Html, EscapesMarkupAndControls) {
  EXPECT_EQ(html_escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;");
  EXPECT_EQ(html_escape(std::string("a\x01" "b\xFF")), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
}

}  // namespace
}  // namespace backstop::report
