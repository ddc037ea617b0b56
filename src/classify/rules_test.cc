#include "classify/rules.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace backstop::classify {
namespace {

TEST(RulesParse, ReadsEveryField) {
  auto r = parse_rules(
      "# comment\n"
      "\n"
      "a subject bounce 1.0 /^returned mail/\n"
      "b header:X-Foo auto,autoreply 0.5 exists\n"
      "c dsn:Status bounce -0.25 \"5.1.1\"\n"
      "d body virus_notice 2 /Virus/cs\n");
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].name, "a");
  EXPECT_EQ((*r)[0].target.kind, TargetKind::kSubject);
  EXPECT_EQ((*r)[0].pattern, "^returned mail");
  EXPECT_EQ((*r)[0].line, 3);
  EXPECT_EQ((*r)[1].target.kind, TargetKind::kHeader);
  EXPECT_EQ((*r)[1].target.name, "x-foo");
  EXPECT_TRUE((*r)[1].exists);
  ASSERT_EQ((*r)[1].buckets.size(), 2u);
  EXPECT_EQ((*r)[1].buckets[0], Bucket::kAuto);
  EXPECT_EQ((*r)[1].buckets[1], Bucket::kAutoreply);
  EXPECT_EQ((*r)[2].target.kind, TargetKind::kDsn);
  EXPECT_EQ((*r)[2].target.name, "status");
  EXPECT_DOUBLE_EQ((*r)[2].weight, -0.25);
  EXPECT_EQ((*r)[2].pattern, "5\\x2e1\\x2e1");  // literal: dots escaped
  EXPECT_TRUE((*r)[3].case_sensitive);
  EXPECT_TRUE((*r)[3].dotall);
}

TEST(RulesParse, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* needle;
  };
  const Case cases[] = {
      {"x\n", "line 1"},
      {"# c\na nowhere bounce 1 /x/\n", "line 2: unknown target"},
      {"a subject nokind 1 /x/\n", "unknown kind"},
      {"a subject bounce heavy /x/\n", "bad weight"},
      {"a subject bounce 99 /x/\n", "bad weight"},
      // strtod reads these. A NaN weight passed the range check, and when its
      // rule fired no kind it counted for could win (fuzz_rules checks that
      // every parsed weight is a number in range).
      {"a subject bounce nan /x/\n", "bad weight"},
      {"a subject bounce -NAN /x/\n", "bad weight"},
      {"a subject bounce inf /x/\n", "bad weight"},
      {"a subject bounce 0x1p3 /x/\n", "bad weight"},
      {"a subject bounce 1 x\n", "pattern must be"},
      {"a subject bounce 1 /x/q\n", "unknown regex flag"},
      {"a subject bounce 1 exists\n", "exists applies only"},
      {"a subject bounce 1 /x/\na body bounce 1 /y/\n", "line 2: duplicate"},
      {"# only comments\n", "no rules"},
  };
  for (const auto& c : cases) {
    auto r = parse_rules(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code(), Code::kMalformed);
    EXPECT_NE(r.error().message().find(c.needle), std::string::npos)
        << c.text << " -> " << r.error().message();
  }
}

TEST(RulesCompile, RejectedPatternNamesItsLine) {
  auto r = compile_rules("ok subject bounce 1 /fine/\nbad subject bounce 1 /(unclosed/\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kMalformed);
  EXPECT_NE(r.error().message().find("line 2"), std::string::npos) << r.error().message();
}

TEST(RulesCompile, OneDatabasePerTarget) {
  auto r = compile_rules(
      "a subject bounce 1 /x/\nb subject bounce 1 /y/\nc header:x-a auto 1 exists\n"
      "d header:x-a auto 1 /z/\ne body bounce 1 /w/\n");
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ((*r)->targets().size(), 3u);
  EXPECT_EQ((*r)->targets()[0].rule_ids.size(), 2u);
  EXPECT_EQ((*r)->targets()[1].exists_ids.size(), 1u);
  EXPECT_EQ((*r)->targets()[1].rule_ids.size(), 1u);
}

TEST(RulesMatch, CaselessByDefaultAndCaseSensitiveOnRequest) {
  auto r = compile_rules("a subject bounce 1 /returned mail/\nb subject bounce 1 /ABC/c\n");
  ASSERT_TRUE(r);
  std::vector<char> fired(2, 0);
  ASSERT_TRUE((*r)->match(0, "RETURNED MAIL: abc", fired));
  EXPECT_EQ(fired[0], 1);
  EXPECT_EQ(fired[1], 0);
  ASSERT_TRUE((*r)->match(0, "x ABC", fired));
  EXPECT_EQ(fired[1], 1);
}

TEST(RulesMatch, AnchorsMatchAtEveryLine) {
  auto r = compile_rules("a header:x bounce 1 /^second$/\n");
  ASSERT_TRUE(r);
  std::vector<char> fired(1, 0);
  ASSERT_TRUE((*r)->match(0, "first\nsecond", fired));
  EXPECT_EQ(fired[0], 1);
}

TEST(RulesBuiltin, CompilesAndIsTheRepositoryFile) {
  auto r = builtin_rules();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_GT((*r)->rules().size(), 50u);
  const char* src = std::getenv("BACKSTOP_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  std::ifstream in(std::string(src) + "/rules/backscatter.rules", std::ios::binary);
  ASSERT_TRUE(in);
  std::ostringstream file;
  file << in.rdbuf();
  EXPECT_EQ(file.str(), builtin_rules_text());
}

TEST(RulesFile, MissingFileIsNotFound) {
  auto r = load_rules_file("/nonexistent/backstop/rules");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

TEST(RulesFile, LoadsAnOverride) {
  const std::string path = ::testing::TempDir() + "/override.rules";
  {
    std::ofstream out(path);
    out << "only subject challenge 2 /knock knock/\n";
  }
  auto r = load_rules_file(path);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)->rules().size(), 1u);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace backstop::classify
