#include "mail/charset.h"

#include <gtest/gtest.h>

#include <string>

namespace backstop::mail::detail {
namespace {

// The ASCII fast path reads eight bytes at a time: a non-ASCII byte at every
// position relative to an 8-byte word must still be seen and handled.
TEST(Utf8Sanitized, NonAsciiAtEveryOffsetOfTheWordScan) {
  for (std::size_t pre = 0; pre < 20; ++pre) {
    for (std::size_t post = 0; post < 12; ++post) {
      const std::string a(pre, 'a'), b(post, 'b');
      std::string out;
      append_utf8_sanitized(out, a + "\xC3\xA9" + b + "\xFF" + a);
      EXPECT_EQ(out, a + "\xC3\xA9" + b + "\xEF\xBF\xBD" + a) << pre << "/" << post;
    }
  }
}

TEST(Utf8Sanitized, PureAsciiIsCopied) {
  std::string out = "x";
  append_utf8_sanitized(out, "hello, world: seventeen");
  EXPECT_EQ(out, "xhello, world: seventeen");
  append_utf8_sanitized(out, "");
  EXPECT_EQ(out, "xhello, world: seventeen");
}

TEST(Utf8Sanitized, TruncatedSequenceAtTheEndIsReplaced) {
  std::string out;
  append_utf8_sanitized(out, std::string(9, 'z') + "\xE2\x82");
  EXPECT_EQ(out, std::string(9, 'z') + "\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace backstop::mail::detail
