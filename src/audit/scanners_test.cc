#include "audit/scanners.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace backstop::audit {
namespace {

bool has(const std::vector<Finding>& v, std::string_view id) {
  return std::any_of(v.begin(), v.end(), [&](const Finding& f) { return f.id == id; });
}

TEST(AmavisLint, DebianDefaultsAreClean) {
  // The destinies of Debian's 20-debian_defaults, with its comments.
  const NamedText f{"20-debian_defaults", R"(use strict;
$sa_dsn_cutoff_level = 10;   # spam level beyond which a DSN is not sent
# $final_virus_destiny = D_BOUNCE;  # a commented example
$final_virus_destiny      = D_DISCARD;  # (data not lost, see virus quarantine)
$final_banned_destiny     = D_DISCARD;
$final_spam_destiny       = D_PASS;
$final_bad_header_destiny = D_PASS;     # False-positive prone (for spam)
$virus_admin = "postmaster\@$mydomain"; # due to D_DISCARD default
1;  # ensure a defined return
)"};
  EXPECT_TRUE(lint_amavis({f}).empty());
}

TEST(AmavisLint, BounceDestiniesAndSenderWarnings) {
  const NamedText defaults{"20-debian_defaults", "$final_virus_destiny = D_DISCARD;\n$final_spam_destiny = D_PASS;\n"};
  const NamedText user{"50-user", "use strict;\n$final_virus_destiny = D_BOUNCE; $warnvirussender = 1;\n"
                                  "$final_spam_destiny =\n  D_BOUNCE;\n$warnspamsender = 0;\n"
                                  "$warnbannedsender = 'yes';\n$final_banned_destiny = D_REJECT;\n"};
  const auto f = lint_amavis({defaults, user});
  EXPECT_TRUE(has(f, "amavis.virus_destiny-bounce"));
  EXPECT_TRUE(has(f, "amavis.spam_destiny-bounce"));
  EXPECT_TRUE(has(f, "amavis.banned_destiny-reject"));
  EXPECT_TRUE(has(f, "amavis.warnvirussender"));
  EXPECT_TRUE(has(f, "amavis.warnbannedsender"));
  EXPECT_FALSE(has(f, "amavis.warnspamsender"));  // set to 0
  for (const auto& x : f) {
    if (x.id == "amavis.virus_destiny-bounce") {
      EXPECT_EQ(x.where, "50-user:2");
      EXPECT_EQ(x.severity, Severity::kHigh);
      EXPECT_EQ(x.fix.rfind("$final_virus_destiny = D_DISCARD;", 0), 0u);
    }
    if (x.id == "amavis.spam_destiny-bounce") {
      EXPECT_EQ(x.where, "50-user:3");
    }
  }
}

TEST(AmavisLint, LaterFileWinsAndStringsDoNotConfuse) {
  const NamedText a{"a", "$final_virus_destiny = D_BOUNCE;\n"};
  const NamedText b{"b", "$x = 'a;#b'; $final_virus_destiny = D_DISCARD; # ; D_BOUNCE\n"};
  EXPECT_TRUE(lint_amavis({a, b}).empty());
  EXPECT_FALSE(lint_amavis({b, a}).empty());
  EXPECT_TRUE(lint_amavis({{"c", "if ($final_virus_destiny == D_BOUNCE) { }\n"}}).empty());
}

TEST(ClamavLint, ClamSmtpBounceAndVirusAction) {
  auto f = lint_clamav({"clamsmtpd.conf", "OutAddress: 10026\n#Bounce: on\nBounce: on\nVirusAction: /usr/local/bin/notify\n"});
  ASSERT_TRUE(has(f, "clamsmtp.bounce"));
  EXPECT_TRUE(has(f, "clamsmtp.virus-action"));
  EXPECT_EQ(f[0].where, "clamsmtpd.conf:3");
  EXPECT_TRUE(lint_clamav({"clamsmtpd.conf", "OutAddress: 10026\nBounce: off\n"}).empty());
  EXPECT_TRUE(has(lint_clamav({"c", "Action: bounce\n"}), "clamsmtp.bounce"));
}

TEST(ClamavLint, ClamavMilter) {
  EXPECT_TRUE(lint_clamav({"clamav-milter.conf", "MilterSocket /run/clamav/m.ctl\nOnInfected Reject\n"
                                                 "RejectMsg Virus %v found\n"}).empty());
  EXPECT_TRUE(lint_clamav({"clamav-milter.conf", "OnInfected Quarantine\n"}).empty());
  EXPECT_TRUE(has(lint_clamav({"clamav-milter.conf", "VirusAction /usr/local/bin/mail-sender\n"}),
                  "clamav-milter.virus-action"));
}

TEST(SieveLint, GoodVacationScript) {
  const NamedText s{"good.sieve", R"(require ["vacation"];
# a list guard
if anyof (exists "list-id", header :is "precedence" ["bulk", "list"]) { stop; }
vacation :days 7 :subject "Away" text:
I am away.
vacation again
..
.
;
)"};
  EXPECT_TRUE(lint_sieve(s).empty());
}

TEST(SieveLint, VacationWithoutDaysUnguardedAndShort) {
  auto f = lint_sieve({"v.sieve", "require \"vacation\";\nvacation \"I am away\";\n"});
  EXPECT_TRUE(has(f, "sieve.vacation-no-days"));
  EXPECT_TRUE(has(f, "sieve.vacation-unguarded"));
  EXPECT_EQ(f[0].where, "v.sieve:2");
  auto g = lint_sieve({"w.sieve", "require [\"vacation\", \"vacation-seconds\"];\n"
                                  "if not exists \"auto-submitted\" { vacation :seconds 3600 \"away\"; }\n"});
  EXPECT_TRUE(has(g, "sieve.vacation-short-interval"));
  EXPECT_FALSE(has(g, "sieve.vacation-unguarded"));
  EXPECT_TRUE(has(lint_sieve({"z", "vacation :days 0 \"x\";"}), "sieve.vacation-short-interval"));
}

TEST(SieveLint, NearMisses) {
  // "vacation" only inside a string and a comment, and as a require'd name
  EXPECT_TRUE(lint_sieve({"n", "require \"vacation\"; # vacation :days 1\nfileinto \"vacation\";\n/* vacation; */"}).empty());
  EXPECT_TRUE(has(lint_sieve({"r", "if header :contains \"subject\" \"spam\" { reject \"no\"; }"}), "sieve.reject"));
  EXPECT_FALSE(has(lint_sieve({"r", "if header :contains \"subject\" \"reject\" { discard; }"}), "sieve.reject"));
}

TEST(SieveLint, HostileScriptsTerminate) {
  EXPECT_NO_FATAL_FAILURE(lint_sieve({"h", "vacation :days"}));
  EXPECT_NO_FATAL_FAILURE(lint_sieve({"h", "\"unterminated"}));
  EXPECT_NO_FATAL_FAILURE(lint_sieve({"h", "/* unterminated"}));
  EXPECT_NO_FATAL_FAILURE(lint_sieve({"h", "vacation text:\nno end"}));
  EXPECT_NO_FATAL_FAILURE(lint_sieve({"h", "vacation :days 99999999999999999999999K \"x\";"}));
  EXPECT_NO_FATAL_FAILURE(lint_amavis({{"h", "$x = 'unterminated; $y = ("}}));
}

}  // namespace
}  // namespace backstop::audit
