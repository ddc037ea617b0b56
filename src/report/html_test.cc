#include "report/html.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cctype>
#include <set>
#include <string>

namespace backstop::report {
namespace {

Summary hostile_summary() {
  Aggregator a;
  for (int i = 0; i < 3; ++i) {
    MessageRecord r;
    r.file = "<img src=x onerror=alert(1)>.eml";
    r.index = static_cast<std::size_t>(i);
    r.kind = i == 2 ? "none" : "bounce";
    r.day = i == 0 ? "2024-05-01" : "2024-05-02";
    r.source_ip = "203.0.113.9";
    r.source_host = "<script>alert('host')</script>";
    r.local_recipients = {"\"><svg onload=alert(2)>@example.org"};
    r.refs.original_sender = "evil&co\xFF@example.org";
    a.add(r);
  }
  a.add_error(ErrorRecord{"</td><script>x</script>", 0, "malformed", "<b>bad</b>"});
  return a.summary();
}

TEST(Html, SelfContainedAndEscaped) {
  HtmlOptions o;
  o.scanned = "<mbox>";
  std::string page = html_report(hostile_summary(), o);
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("</html>"), std::string::npos);
  // No script, no external fetches of any kind.
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("<svg onload"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("href="), std::string::npos);
  EXPECT_EQ(page.find("url("), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
  // Hostile strings are present, escaped.
  EXPECT_NE(page.find("&lt;script&gt;alert(&#39;host&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("&quot;&gt;&lt;svg onload=alert(2)&gt;@example.org"), std::string::npos);
  EXPECT_NE(page.find("evil&amp;co\xEF\xBF\xBD@example.org"), std::string::npos);
  EXPECT_NE(page.find("&lt;b&gt;bad&lt;/b&gt;"), std::string::npos);
  // Three inline charts: by kind, backscatter by period, all mail by period.
  std::size_t svgs = 0;
  for (std::size_t p = page.find("<svg"); p != std::string::npos; p = page.find("<svg", p + 1)) ++svgs;
  EXPECT_EQ(svgs, 3u);
  EXPECT_NE(page.find("2024-05-02"), std::string::npos);
}

TEST(Html, TagsAreBalancedOutsideText) {
  // Every '<' in the page starts a tag we wrote: after escaping, message text
  // cannot contain one. Check that each '<' is followed by a known tag name.
  std::string page = html_report(hostile_summary());
  const std::set<std::string> allowed = {"!DOCTYPE", "html", "head", "meta", "title", "style",
                                         "body", "h1", "h2", "p", "code", "table", "tr", "td",
                                         "th", "svg", "rect", "text", "line", "span", "i",
                                         "circle", "polyline"};
  std::size_t tags = 0;
  for (std::size_t p = page.find('<'); p != std::string::npos; p = page.find('<', p + 1)) {
    std::size_t q = p + 1;
    if (q < page.size() && page[q] == '/') ++q;
    std::size_t e = q;
    while (e < page.size() && (std::isalnum(static_cast<unsigned char>(page[e])) || page[e] == '!')) ++e;
    std::string name = page.substr(q, e - q);
    EXPECT_TRUE(allowed.count(name)) << "unexpected tag " << name;
    ++tags;
  }
  EXPECT_GT(tags, 50u);
}

TEST(Html, AYearOfDaysIsDrawnPerWeek) {
  Aggregator a;
  for (int m = 1; m <= 12; ++m) {
    for (int d = 1; d <= 28; ++d) {
      MessageRecord r;
      r.kind = "bounce";
      char buf[32];
      std::snprintf(buf, sizeof buf, "2023-%02d-%02d", m, d);
      r.day = buf;
      a.add(r);
    }
  }
  std::string page = html_report(a.summary());
  EXPECT_NE(page.find("backscatter by week"), std::string::npos);
  EXPECT_NE(page.find("<title>2023-07-03 bounce: 7</title>"), std::string::npos);  // a Monday, 7 days
  EXPECT_EQ(page.find("2023-07-04"), std::string::npos);
}

TEST(Html, TwentyFiveYearsArePerMonthAndTheShareHasItsOwnAxis) {
  Aggregator a;
  for (int y = 2000; y < 2025; ++y) {
    for (int m = 1; m <= 12; ++m) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%d-%02d-15", y, m);
      MessageRecord r;
      r.day = buf;
      r.kind = "none";
      for (int i = 0; i < 99; ++i) a.add(r);
      r.kind = "bounce";
      a.add(r);  // 1% backscatter: invisible on the scale of all mail
    }
  }
  std::string page = html_report(a.summary());
  EXPECT_NE(page.find("backscatter by month"), std::string::npos);
  EXPECT_NE(page.find("all messages by month"), std::string::npos);
  std::size_t columns = 0;
  for (std::size_t p = page.find("<circle"); p != std::string::npos; p = page.find("<circle", p + 1)) ++columns;
  EXPECT_EQ(columns, 25u * 12u);  // one share point per month, none per day
  EXPECT_NE(page.find("<polyline"), std::string::npos);
  EXPECT_NE(page.find(">1%</text>"), std::string::npos);  // right axis scaled to the largest share
  EXPECT_NE(page.find("(1.0%)"), std::string::npos);
}

TEST(Html, LongSourceLabelsAreNotCut) {
  Aggregator a;
  MessageRecord r;
  r.kind = "bounce";
  r.day = "2024-05-01";
  r.source_ip = "2001:db8::1";
  r.source_host = std::string(150, 'a') + ".mail-relay.example.org";
  a.add(r);
  std::string page = html_report(a.summary());
  EXPECT_NE(page.find(r.source_ip + " (" + r.source_host + ")"), std::string::npos);
  EXPECT_EQ(page.find("aaa..."), std::string::npos);
}

}  // namespace
}  // namespace backstop::report
