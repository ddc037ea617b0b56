#include "audit/postfix.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace backstop::audit {
namespace {

// A clean edge: local domain with the default local_recipient_maps, a
// relayed domain with relay_recipient_maps, smtpd and the reinjection
// service of a content filter on loopback.
constexpr const char* kGoodMain = R"(compatibility_level = 3.6
myhostname = mx.example.test
mydestination = $myhostname, localhost
relay_domains = relay.example.test
relay_recipient_maps = hash:/etc/postfix/relay_recipients
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
virtual_alias_maps = texthash:/etc/postfix/virtual
)";

constexpr const char* kGoodMaster = R"(# comment
smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_reject_unlisted_recipient=no
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
127.0.0.1:10025 inet n  -       n       -       -       smtpd
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks
pickup    unix  n       -       y       60      1       pickup
)";

struct Fixture {
  std::map<std::string, std::string> files;
  PostfixInput in;
  Section lint(const std::string& main, const std::string& master = kGoodMaster) {
    auto m = parse_main_cf(main);
    EXPECT_TRUE(m) << (m ? "" : m.error().message());
    in.main = m.value_or(MainConfig{});
    auto ms = parse_master_cf(master);
    EXPECT_TRUE(ms) << (ms ? "" : ms.error().message());
    in.master = ms.value_or(std::vector<MasterService>{});
    in.have_master = true;
    in.read_file = [this](const std::string& p) -> Result<std::string> {
      auto it = files.find(p);
      if (it == files.end()) return fail(Code::kNotFound, "cannot read " + p);
      return it->second;
    };
    return lint_postfix(in, "test");
  }
};

std::vector<std::string> ids(const Section& s) {
  std::vector<std::string> out;
  for (const auto& f : s.findings) out.push_back(f.id);
  return out;
}

bool has(const Section& s, std::string_view id) {
  return std::any_of(s.findings.begin(), s.findings.end(), [&](const Finding& f) { return f.id == id; });
}

const Finding* get(const Section& s, std::string_view id) {
  for (const auto& f : s.findings) {
    if (f.id == id) return &f;
  }
  return nullptr;
}

TEST(PostfixParse, MainCfContinuationsCommentsAndLastWins) {
  auto m = parse_main_cf("# c\na = 1\nb = x,\n  y\n   # inside\n  z\na=2\n\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params["a"].value, "2");
  EXPECT_EQ(m->params["a"].line, 7u);
  EXPECT_EQ(m->params["b"].value, "x, y z");
  EXPECT_FALSE(parse_main_cf("no equals sign here\n"));
  EXPECT_FALSE(parse_main_cf("bad name = 1\n"));
  EXPECT_FALSE(parse_main_cf(std::string(kMaxPostfixConfigBytes + 1, '#')));
}

TEST(PostfixParse, MasterCfOverrides) {
  auto ms = parse_master_cf(
      "smtp inet n - y - - smtpd\n  -o smtpd_reject_unlisted_recipient=no\n  -o { smtpd_recipient_restrictions = "
      "permit_mynetworks, reject }\n127.0.0.1:10025 inet n - n - - smtpd -o content_filter=\n");
  ASSERT_TRUE(ms);
  ASSERT_EQ(ms->size(), 2u);
  EXPECT_EQ((*ms)[0].override_of("smtpd_reject_unlisted_recipient"), "no");
  EXPECT_EQ((*ms)[0].override_of("smtpd_recipient_restrictions"), "permit_mynetworks, reject");
  EXPECT_TRUE((*ms)[0].public_smtpd());
  EXPECT_FALSE((*ms)[1].public_smtpd());
  EXPECT_EQ((*ms)[1].override_of("content_filter"), "");
  EXPECT_FALSE(parse_master_cf("smtp inet n - y\n"));
}

TEST(PostfixExpand, NamesDefaultsAndConditionals) {
  auto m = parse_main_cf("myhostname = mx.example.test\nmydomain = example.test\na = $myhostname\nb = ${a}/x\n"
                         "c = ${empty?yes}${a?set}${empty:unset}\nd = ${a?{one}:{two}}\nloop = $loop x\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(expand(*m, "$b"), "mx.example.test/x");
  EXPECT_EQ(expand(*m, "$c"), "setunset");
  EXPECT_EQ(expand(*m, "$d"), "one");
  EXPECT_EQ(expand(*m, "$mydestination"), "mx.example.test, localhost.example.test, localhost");
  EXPECT_EQ(expand(*m, "$$a $(myhostname)"), "$a mx.example.test");
  EXPECT_LE(expand(*m, "$loop").size(), kMaxExpandedBytes);  // a self-reference stops
  EXPECT_EQ(raw_value(*m, "relay_domains"), "$mydestination");  // compatibility_level 0
}

TEST(PostfixLint, GoodConfigurationHasNoFinding) {
  Fixture f;
  f.files["/etc/postfix/virtual"] = "postmaster@example.test  root\n# @example.test catchall in a comment\n";
  auto s = f.lint(kGoodMain);
  EXPECT_TRUE(s.findings.empty()) << testing::PrintToString(ids(s));
}

TEST(PostfixLint, EmptyLocalRecipientMaps) {
  Fixture f;
  auto s = f.lint(std::string(kGoodMain) + "local_recipient_maps =\n");
  const Finding* x = get(s, "postfix.local-recipient-maps-empty");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->severity, Severity::kHigh);
  EXPECT_EQ(x->where, "main.cf:8");
  EXPECT_EQ(x->fix.rfind("postconf -e 'local_recipient_maps = proxy:unix:passwd.byname $alias_maps'", 0), 0u);
  // near miss: no local domains, nothing to check against
  Fixture g;
  auto t = g.lint(std::string(kGoodMain) + "local_recipient_maps =\nmydestination =\n");
  EXPECT_FALSE(has(t, "postfix.local-recipient-maps-empty"));
}

TEST(PostfixLint, RelayDomainsWithoutRecipientCheck) {
  Fixture f;
  auto s = f.lint("relay_domains = relay.example.test\nsmtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n");
  const Finding* x = get(s, "postfix.relay-without-recipient-check");
  ASSERT_NE(x, nullptr);
  EXPECT_NE(x->fix.find("postconf -e 'relay_recipient_maps = hash:/etc/postfix/relay_recipients'"), std::string::npos);
  EXPECT_NE(x->fix.find("'smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, "
                        "reject_unverified_recipient'"),
            std::string::npos);
  // near misses: recipient verification instead of a table, also through a restriction class
  Fixture g;
  EXPECT_FALSE(has(g.lint("relay_domains = r.test\nsmtpd_recipient_restrictions = reject_unauth_destination, "
                          "reject_unverified_recipient\n"),
                   "postfix.relay-without-recipient-check"));
  Fixture h;
  EXPECT_FALSE(has(h.lint("relay_domains = r.test\nsmtpd_restriction_classes = verify\nverify = "
                          "reject_unverified_recipient\nsmtpd_recipient_restrictions = verify\n"),
                   "postfix.relay-without-recipient-check"));
  // near miss: relay_domains is only the default $mydestination
  Fixture i;
  EXPECT_FALSE(has(i.lint("compatibility_level = 0\n"), "postfix.relay-without-recipient-check"));
}

TEST(PostfixLint, RelayFixUsesTheConfigDirectory) {
  Fixture f;
  f.in.config_dir = "/srv/pf";
  auto s = f.lint("relay_domains = r.test\n");
  const Finding* x = get(s, "postfix.relay-without-recipient-check");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->fix.rfind("postconf -c /srv/pf -e 'relay_recipient_maps = hash:/srv/pf/relay_recipients'", 0), 0u);
}

TEST(PostfixLint, UnlistedRecipientOffInMainAndInMasterCf) {
  Fixture f;
  auto s = f.lint(std::string(kGoodMain) + "smtpd_reject_unlisted_recipient = no\n");
  const Finding* x = get(s, "postfix.reject-unlisted-recipient-off");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->fix.rfind("postconf -e 'smtpd_reject_unlisted_recipient = yes'", 0), 0u);

  Fixture g;
  auto t = g.lint(kGoodMain, "smtp inet n - y - - smtpd\n  -o smtpd_reject_unlisted_recipient=no\n");
  x = get(t, "postfix.reject-unlisted-recipient-off");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->where, "master.cf:1 (smtp inet)");
  EXPECT_EQ(x->fix.rfind("postconf -PX 'smtp/inet/smtpd_reject_unlisted_recipient'", 0), 0u);
  // near miss: the good master.cf has it on an authenticated-only submission port
  Fixture h;
  EXPECT_FALSE(has(h.lint(kGoodMain), "postfix.reject-unlisted-recipient-off"));
}

TEST(PostfixLint, NoUnknownRecipientChecksOnlyOnPublicServices) {
  Fixture f;
  auto s = f.lint(kGoodMain, "smtp inet n - y - - smtpd -o receive_override_options=no_unknown_recipient_checks\n");
  const Finding* x = get(s, "postfix.unknown-recipient-checks-off");
  ASSERT_NE(x, nullptr);
  // near miss: the content filter's reinjection service on loopback (kGoodMaster)
  Fixture g;
  EXPECT_FALSE(has(g.lint(kGoodMain), "postfix.unknown-recipient-checks-off"));
}

TEST(PostfixLint, SoftBounceLuserRelayAndTempfailCode) {
  Fixture f;
  auto s = f.lint(std::string(kGoodMain) + "soft_bounce = yes\nluser_relay = catchall\n"
                  "unknown_local_recipient_reject_code = 450\n");
  ASSERT_NE(get(s, "postfix.soft-bounce"), nullptr);
  EXPECT_EQ(get(s, "postfix.soft-bounce")->fix, "postconf -e 'soft_bounce = no' && postfix reload");
  EXPECT_NE(get(s, "postfix.luser-relay"), nullptr);
  EXPECT_NE(get(s, "postfix.unknown-recipient-tempfail"), nullptr);
  Fixture g;
  auto t = g.lint(std::string(kGoodMain) + "soft_bounce = no\nunknown_local_recipient_reject_code = 550\n");
  EXPECT_TRUE(t.findings.empty()) << testing::PrintToString(ids(t));
}

TEST(PostfixLint, CatchAllVirtualAliases) {
  Fixture f;
  f.files["/etc/postfix/virtual"] = "alice@example.test alice\n@example.test  bob\n#@other.test x\n";
  f.files["/etc/postfix/virtual.re"] = "/^.*@re\\.test$/ carol\n/^dave@re\\.test$/ dave\n";
  auto s = f.lint("virtual_alias_maps = hash:/etc/postfix/virtual, regexp:/etc/postfix/virtual.re, "
                  "inline:{ @inline.test=x, a@b.test=y }\n");
  std::vector<std::string> where;
  for (const auto& x : s.findings) {
    if (x.id == "postfix.catch-all-alias") where.push_back(x.where);
  }
  EXPECT_EQ(where, (std::vector<std::string>{"/etc/postfix/virtual:2", "/etc/postfix/virtual.re:1", "main.cf:1"}));
  const Finding* x = get(s, "postfix.catch-all-alias");
  EXPECT_NE(x->fix.find("postmap /etc/postfix/virtual"), std::string::npos);
}

TEST(PostfixLint, UnreadableMapIsANote) {
  Fixture f;
  auto s = f.lint("virtual_alias_maps = hash:/nonexistent/virtual\n");
  EXPECT_TRUE(s.findings.empty());
  ASSERT_FALSE(s.notes.empty());
}

TEST(PostfixLint, StaticRecipientMaps) {
  Fixture f;
  auto s = f.lint("relay_domains = r.test\nrelay_recipient_maps = static:OK\n");
  EXPECT_NE(get(s, "postfix.static-recipient-map"), nullptr);
  EXPECT_EQ(get(s, "postfix.relay-without-recipient-check"), nullptr);  // a table is set, but it accepts all
}

TEST(PostfixLint, MilterAcceptMattersOnlyInFrontOfAnAfterQueueFilter) {
  Fixture f;
  auto s = f.lint(std::string(kGoodMain) + "smtpd_milters = inet:127.0.0.1:8891\nmilter_default_action = accept\n"
                  "content_filter = amavis:[127.0.0.1]:10024\n");
  EXPECT_NE(get(s, "postfix.milter-accept-then-filter"), nullptr);
  EXPECT_EQ(after_queue_filter(f.in), "amavis:[127.0.0.1]:10024");
  Fixture g;
  auto t = g.lint(std::string(kGoodMain) + "smtpd_milters = inet:127.0.0.1:8891\nmilter_default_action = accept\n");
  EXPECT_TRUE(t.findings.empty());
  EXPECT_FALSE(t.notes.empty());
}

TEST(PostfixLint, SenderVerificationIsLow) {
  Fixture f;
  auto s = f.lint(std::string(kGoodMain) + "smtpd_sender_restrictions = reject_unverified_sender\n");
  ASSERT_NE(get(s, "postfix.sender-verification"), nullptr);
  EXPECT_EQ(get(s, "postfix.sender-verification")->severity, Severity::kLow);
}

TEST(PostfixLint, WithoutMasterCfOnePlainSmtpdIsAssumed) {
  auto m = parse_main_cf("smtpd_reject_unlisted_recipient = no\n", "postconf -n");
  ASSERT_TRUE(m);
  PostfixInput in;
  in.main = *m;
  auto s = lint_postfix(in, "t");
  const Finding* x = get(s, "postfix.reject-unlisted-recipient-off");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->where, "postconf -n");
}

}  // namespace
}  // namespace backstop::audit
