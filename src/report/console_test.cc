#include "report/console.h"

#include <gtest/gtest.h>

namespace backstop::report {
namespace {

TEST(ProgressLine, WithoutTotal) {
  EXPECT_EQ(progress_line(12345, 120'500'000, 5.0, 0), "12,345 messages, 120.5 MB, 2,469 msgs/s");
  EXPECT_EQ(progress_line(1, 0, 0.0, 0), "1 message, 0.0 MB, 0 msgs/s");
}

TEST(ProgressLine, PercentAndTimeLeftWhenTheTotalIsKnown) {
  // 120 MB of 400 MB in 30 s: 280 MB left at 4 MB/s = 70 s.
  EXPECT_EQ(progress_line(10000, 120'000'000, 30.0, 400'000'000),
            "10,000 messages, 120.0 MB of 400.0 MB (30%), 333 msgs/s, 1:10 left");
  // Hours; bytes past the total (From_ lines not counted, a file grown) stay at 100%.
  EXPECT_EQ(progress_line(5, 1'000'000, 10.0, 400'000'000),
            "5 messages, 1.0 MB of 400.0 MB (0%), 1 msgs/s, 1:06:30 left");
  EXPECT_EQ(progress_line(5, 500, 1.0, 400), "5 messages, 0.0 MB of 0.0 MB (100%), 5 msgs/s, 0:00 left");
  // No time passed yet: no estimate.
  EXPECT_EQ(progress_line(0, 0, 0.0, 400), "0 messages, 0.0 MB of 0.0 MB (0%), 0 msgs/s");
}

TEST(ErrorLine, PrintableOneLine) {
  EXPECT_EQ(error_line(ErrorRecord{"box\x1b[2J", 7, "malformed", "not a\nmail message\xff"}),
            "box [2J #7: malformed: not a mail message\xef\xbf\xbd");
}

TEST(ErrorTally, FirstFewThenACount) {
  ErrorTally t(3);
  int shown = 0;
  for (int i = 0; i < 720; ++i) shown += t.show(ErrorRecord{"big.mbox", static_cast<std::size_t>(i), "malformed", "x"});
  EXPECT_EQ(shown, 3);
  EXPECT_EQ(t.total(), 720u);
  EXPECT_EQ(t.hidden(), 717u);
  EXPECT_EQ(t.closing_line(), "... and 717 more unreadable entries; --errors FILE lists them all");
  EXPECT_EQ(t.closing_line("errs.txt"), "... and 717 more unreadable entries (all 720 in errs.txt)");
}

TEST(ErrorTally, NothingHiddenNoClosingLine) {
  ErrorTally t;
  for (std::size_t i = 0; i < kShownErrors; ++i) EXPECT_TRUE(t.show(ErrorRecord{}));
  EXPECT_EQ(t.closing_line(), "");
  EXPECT_FALSE(t.show(ErrorRecord{}));
  EXPECT_EQ(t.closing_line(), "... and 1 more unreadable entry; --errors FILE lists them all");
}

}  // namespace
}  // namespace backstop::report
