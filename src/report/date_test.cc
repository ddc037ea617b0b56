#include "report/date.h"

#include <gtest/gtest.h>

namespace backstop::report {
namespace {

TEST(Date, Rfc5322) {
  EXPECT_EQ(date_day_string("Tue, 1 Jul 2003 10:52:37 +0200"), "2003-07-01");
  EXPECT_EQ(date_day_string("Thu, 13 Feb 1969 23:32:54 -0330"), "");  // before 1970
  EXPECT_EQ(date_day_string("1 Jul 2003 10:52 +0000"), "2003-07-01");
}

TEST(Date, ConvertsToUtcAcrossDayAndYear) {
  EXPECT_EQ(date_day_string("Mon, 31 Dec 2012 23:30:00 -0500"), "2013-01-01");
  EXPECT_EQ(date_day_string("Tue, 01 Jan 2013 00:30:00 +0100"), "2012-12-31");
  EXPECT_EQ(date_day_string("Thu, 29 Feb 2024 22:00:00 EST"), "2024-03-01");
}

TEST(Date, ObsoleteAndBrokenForms) {
  EXPECT_EQ(date_day_string("Fri, 5 Mar 99 12:00:00 GMT"), "1999-03-05");
  EXPECT_EQ(date_day_string("Fri, 5 Mar 04 12:00:00 (PST)"), "2004-03-05");
  EXPECT_EQ(date_day_string("  Wed,  7 May 2008 08:12:01 +0900 (JST)  "), "2008-05-06");
  EXPECT_EQ(date_day_string("Mon Jan  5 12:00:00 2015"), "2015-01-05");  // asctime
  EXPECT_EQ(date_day_string("2019-11-02T23:59:59-02:00"), "2019-11-03");
  EXPECT_EQ(date_day_string("2019-11-02"), "2019-11-02");
  EXPECT_EQ(date_day_string("Sat, 3 Sept. 2011 10:00:00 +0000"), "2011-09-03");
}

TEST(Date, RejectsNonsense) {
  EXPECT_EQ(date_day_string(""), "");
  EXPECT_EQ(date_day_string("yesterday"), "");
  EXPECT_EQ(date_day_string("31 Feb 2020 10:00:00 +0000"), "");
  EXPECT_EQ(date_day_string("32 Jan 2020"), "");
  EXPECT_EQ(date_day_string(std::string(100000, '9')), "");
  EXPECT_EQ(date_day_string("\xFF\xFE((((((("), "");
}

}  // namespace
}  // namespace backstop::report
