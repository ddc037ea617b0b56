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

TEST(RulesParse, ReadsTheOptionalFlagsColumn) {
  auto r = parse_rules(
      "a subject autoreply 0.7 flags=ticket /^\\[ticket #/\n"
      "b header:x-ack auto 0.5 flags=ticket exists\n"
      "c body autoreply 1 flags=ticket,ticket \"case opened\"\n"
      "d body bounce 1 /flags=ticket/\n");
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].flags, kFlagTicket);
  EXPECT_EQ((*r)[0].pattern, "^\\[ticket #");
  EXPECT_EQ((*r)[1].flags, kFlagTicket);
  EXPECT_TRUE((*r)[1].exists);
  EXPECT_EQ((*r)[2].flags, kFlagTicket);
  EXPECT_EQ((*r)[2].pattern, "case opened");
  // Without the column a rule has no flags, whatever its pattern says.
  EXPECT_EQ((*r)[3].flags, 0);
  EXPECT_EQ((*r)[3].pattern, "flags=ticket");
}

TEST(RulesParse, HostileFlagsAreErrorsWithTheirLine) {
  struct Case {
    const char* text;
    const char* needle;
  };
  const Case cases[] = {
      {"# c\na subject autoreply 1 flags=tickets /x/\n", "rules line 2: unknown flag 'tickets'"},
      {"a subject autoreply 1 flags=TICKET /x/\n", "line 1: unknown flag 'TICKET'"},
      {"a subject autoreply 1 flags=ticket,bounce /x/\n", "line 1: unknown flag 'bounce'"},
      {"a subject autoreply 1 flags= /x/\n", "line 1: empty flag in flags="},
      {"a subject autoreply 1 flags=ticket, /x/\n", "line 1: empty flag in flags="},
      {"a subject autoreply 1 flags=,ticket /x/\n", "line 1: empty flag in flags="},
      {"a subject autoreply 1 flags=tic\x01ket /x/\n", "line 1: unknown flag"},
      {"a subject autoreply 1 flags=ticket\n", "line 1: expected NAME TARGET KIND WEIGHT"},
      {"a subject autoreply 1 flags=ticket flags=ticket /x/\n", "line 1: pattern must be"},
      {"a subject autoreply flags=ticket /x/\n", "line 1: bad weight"},
      {"a subject autoreply 1 /x/ flags=ticket\n", "line 1: unknown regex flag"},
  };
  for (const auto& c : cases) {
    auto r = parse_rules(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code(), Code::kMalformed);
    EXPECT_NE(r.error().message().find(c.needle), std::string::npos)
        << c.text << " -> " << r.error().message();
  }
}

// A rule named like a structural signal would be indistinguishable from it
// in Verdict::signals and in --explain.
TEST(RulesParse, StructuralSignalNamesAreReserved) {
  for (const char* name : {"delivery-status", "report:delivery-status", "null-sender", "arf", "reply-shape"}) {
    auto r = parse_rules(std::string("ok subject bounce 1 /x/\n") + name + " subject bounce 1 /y/\n");
    ASSERT_FALSE(r) << name;
    EXPECT_NE(r.error().message().find("rules line 2: rule name '" + std::string(name) + "' is a structural"),
              std::string::npos)
        << r.error().message();
  }
  EXPECT_TRUE(parse_rules("delivery-status-words body bounce 1 /x/\n"));
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
