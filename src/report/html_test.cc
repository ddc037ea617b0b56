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
  // Three inline charts: by kind, by day, top sources.
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
                                         "th", "svg", "rect", "text", "line", "span", "i"};
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

TEST(Html, ManyDaysAreDrawnPerMonth) {
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
  HtmlOptions o;
  o.max_days = 120;
  std::string page = html_report(a.summary(), o);
  EXPECT_NE(page.find("messages by month"), std::string::npos);
  EXPECT_NE(page.find(">2023-07<"), std::string::npos);
}

}  // namespace
}  // namespace backstop::report
