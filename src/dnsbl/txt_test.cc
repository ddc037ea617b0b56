#include "dnsbl/txt.h"

#include <gtest/gtest.h>

namespace backstop::dnsbl {
namespace {

TEST(SanitizeTxt, RemovesControlsAndCollapsesSpace) {
  EXPECT_EQ(sanitize_txt("  listed\r\n550 fake\tline\x01\x7f end  "), "listed 550 fake line end");
  EXPECT_EQ(sanitize_txt(std::string("a\0b", 3)), "a b");
  EXPECT_EQ(sanitize_txt("caf\xc3\xa9 ok"), "caf ok");
  EXPECT_EQ(sanitize_txt(""), "");
  EXPECT_EQ(sanitize_txt("\r\n\t"), "");
}

TEST(SanitizeTxt, BoundsLengthAtAWordWithEllipsis) {
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "word ";
  auto s = sanitize_txt(long_text, 50);
  EXPECT_LE(s.size(), 50u);
  EXPECT_TRUE(s.ends_with("...")) << s;
  EXPECT_EQ(s.find("wor..."), std::string::npos) << s;  // cut at a word boundary
  auto t = sanitize_txt(std::string(1000, 'x'));
  EXPECT_EQ(t.size(), kMaxTxtBytes);
  EXPECT_EQ(sanitize_txt("abcdef", 3), "abc");
  EXPECT_EQ(sanitize_txt("exactly ten", 11), "exactly ten");
}

TEST(EscapeRbldnsdTxt, DoublesDollarAndDropsLeadingSpecials) {
  EXPECT_EQ(escape_rbldnsd_txt("costs $5"), "costs $$5");
  EXPECT_EQ(escape_rbldnsd_txt(":127.0.0.9:evil"), "127.0.0.9:evil");
  EXPECT_EQ(escape_rbldnsd_txt("=raw"), "raw");
  EXPECT_EQ(escape_rbldnsd_txt("a\nb # c"), "a b # c");
}

}  // namespace
}  // namespace backstop::dnsbl
