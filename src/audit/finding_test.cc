#include "audit/finding.h"

#include <gtest/gtest.h>

namespace backstop::audit {
namespace {

Report sample() {
  Report r;
  Section s;
  s.target = "postfix /etc/postfix";
  s.findings.push_back(Finding{"postfix.soft-bounce", Severity::kMedium, "main.cf:3", "soft_bounce = yes",
                               "why\x1b[31m", "postconf -e 'soft_bounce = no'"});
  s.notes.push_back("a note");
  r.sections.push_back(s);
  r.sections.push_back(Section{"smtp 127.0.0.1:25", {}, {}});
  return r;
}

TEST(Report, TextHasSeverityFixAndNoControlBytes) {
  const auto t = render_text(sample());
  EXPECT_NE(t.find("MEDIUM postfix.soft-bounce  [main.cf:3]"), std::string::npos);
  EXPECT_NE(t.find("fix: postconf -e 'soft_bounce = no'"), std::string::npos);
  EXPECT_NE(t.find("no findings"), std::string::npos);
  EXPECT_NE(t.find("1 finding (0 high, 1 medium, 0 low)"), std::string::npos);
  EXPECT_EQ(t.find('\x1b'), std::string::npos);
}

TEST(Report, JsonShape) {
  const auto j = render_json(sample());
  EXPECT_EQ(j.rfind("{\"findings\":1,\"sections\":[{\"target\":\"postfix /etc/postfix\"", 0), 0u);
  EXPECT_NE(j.find("\"severity\":\"medium\""), std::string::npos);
  EXPECT_NE(j.find("\"explanation\":\"why\\u001b[31m\""), std::string::npos);
  EXPECT_NE(j.find("\"notes\":[\"a note\"]"), std::string::npos);
}

TEST(Report, ExitStatus) {
  EXPECT_EQ(exit_status(sample()), 1);
  EXPECT_EQ(exit_status(Report{}), 0);
  Report clean;
  clean.sections.push_back(Section{"x", {}, {"only a note"}});
  EXPECT_EQ(exit_status(clean), 0);
}

}  // namespace
}  // namespace backstop::audit
