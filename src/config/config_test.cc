#include "config/config.h"
#include "config/man_page.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/text.h"

namespace backstop::config {
namespace {

TEST(Config, DefaultsCoverEveryKey) {
  Config c = Config::defaults();
  EXPECT_EQ(c.get_string("milter.listen"), "inet:127.0.0.1:8895");
  EXPECT_EQ(c.get_string("policy.listen"), "inet:127.0.0.1:8896");
  EXPECT_EQ(c.get_string("metrics.listen"), "127.0.0.1:9895");
  EXPECT_EQ(c.get_int("batv.lifetime_days"), 7);
  EXPECT_EQ(c.get_list("outbound.daemon_names"), std::vector<std::string>{"ORIGINATING"});
  EXPECT_TRUE(c.get_tables("dnsbl.zones").empty());
  EXPECT_FALSE(c.is_set("milter.listen"));
}

TEST(Config, ParsesNestedAndDottedKeys) {
  auto c = Config::parse(R"(
batv.mode = "enforce"
[milter]
listen = "unix:/run/backstop/milter.sock"
[domains]
local = ["example.org", ".example.net"]
[actions.bounce]
unknown = "reject"
[[dnsbl.zones]]
zone = "ips.backscatterer.org"
action = "reject"
codes = ["127.0.0.2"]
)");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->get_string("milter.listen"), "unix:/run/backstop/milter.sock");
  EXPECT_EQ(c->get_list("domains.local").size(), 2u);
  EXPECT_EQ(c->get_string("actions.bounce.unknown"), "reject");
  EXPECT_EQ(c->get_string("actions.bounce.not_ours"), "reject");  // default kept
  ASSERT_EQ(c->get_tables("dnsbl.zones").size(), 1u);
  EXPECT_EQ(c->get_tables("dnsbl.zones")[0].at("codes"), "127.0.0.2");
  EXPECT_EQ(c->get_string("batv.mode"), "enforce");
  EXPECT_TRUE(c->is_set("milter.listen"));
  EXPECT_FALSE(c->is_set("policy.listen"));
}

TEST(Config, DeepUnknownNestingIsRefusedAtItsTop) {
  // A fuzzer's finding: 60 KiB of nested tables once cost seconds, each level
  // building a longer dotted name. Now the first unknown section ends it.
  std::string text = "[milter]\n";
  std::string name = "x";
  for (int i = 0; i < 2000; ++i) name += ".x";
  text += "[" + name + "]\ny = 1\n";
  auto r = Config::parse(text);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("unknown section 'x'"), std::string::npos) << r.error().message();
}

TEST(Config, Errors) {
  struct Case { const char* text; const char* expect; };
  const Case cases[] = {
      {"milter.lisen = \"x\"", "unknown key 'milter.lisen'"},
      {"batv.lifetime_days = \"7\"", "must be integer"},
      {"batv.lifetime_days = 99", "between 1 and 30"},
      {"batv.mode = \"strict\"", "must be one of enforce|tag|off"},
      {"domains.local = [1, 2]", "must be array of strings"},
      {"[[dnsbl.zones]]\nzone = \"a\"\nweight = 3", "unknown key 'weight'"},
      {"milter.listen = ", "config:1"},  // syntax error names the line
      {"[miltr]\nlisten = \"x\"", "unknown key 'miltr.listen'"},
      {"[milter.deeper]\nx = 1", "unknown key 'milter.deeper.x'"},
      {"[milter.deeper.still]\nx = 1", "unknown section 'milter.deeper'"},
  };
  for (const auto& c : cases) {
    auto r = Config::parse(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find(c.expect), std::string::npos)
        << c.text << " -> " << r.error().message();
  }
}

TEST(Config, DumpRoundTrips) {
  auto c = Config::parse(R"(
domains.local = ["a.example", "quote\"d"]
[[dnsbl.zones]]
zone = "z.example"
action = "tag"
)");
  ASSERT_TRUE(c);
  std::string text = c->dump();
  auto again = Config::parse(text, "dump");
  ASSERT_TRUE(again) << again.error().to_string() << "\n" << text;
  EXPECT_EQ(again->dump(), Config::parse(text, "dump")->dump());
  EXPECT_EQ(again->get_list("domains.local"), c->get_list("domains.local"));
  EXPECT_EQ(again->get_tables("dnsbl.zones")[0].at("action"), "tag");
  // only_changed lists exactly the keys set in the file
  std::string changed = c->dump(true);
  EXPECT_NE(changed.find("domains.local"), std::string::npos);
  EXPECT_EQ(changed.find("milter.listen"), std::string::npos);
}

TEST(Config, DumpDoesNotPrintThePassword) {
  auto c = Config::parse("[redis]\npassword = \"s3cret-pw\"\nprefix = \"bs:\"\n");
  ASSERT_TRUE(c);
  for (bool changed : {false, true}) {
    const std::string text = c->dump(changed);
    EXPECT_EQ(text.find("s3cret-pw"), std::string::npos) << text;
    EXPECT_NE(text.find("# redis.password is set (not shown)"), std::string::npos) << text;
    EXPECT_NE(text.find("redis.prefix = \"bs:\""), std::string::npos) << text;
    ASSERT_TRUE(Config::parse(text, "dump")) << text;  // still a valid file
  }
  // Unset, it is printed as its (empty) default; shown on request for comparisons.
  EXPECT_NE(Config::defaults().dump().find("redis.password = \"\""), std::string::npos);
  EXPECT_NE(c->dump(false, Config::Secrets::kShown).find("redis.password = \"s3cret-pw\""),
            std::string::npos);
}

TEST(Config, DumpQuotesEveryStringAsValidToml) {
  Config c = Config::defaults();
  const std::string hostile = std::string("q\"b\\s\b\t\n\f\r") + std::string(1, '\0') +
                              "\x01\x1F\x7F <x> & caf\xC3\xA9";
  ASSERT_TRUE(c.override("limits.notify", text::quote(hostile)));
  ASSERT_EQ(c.get_string("limits.notify"), hostile);
  auto again = Config::parse(c.dump(), "dump");
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(again->get_string("limits.notify"), hostile);
}

TEST(Config, Override) {
  Config c = Config::defaults();
  ASSERT_TRUE(c.override("state.dir", "\"/srv/x\""));
  EXPECT_EQ(c.get_string("state.dir"), "/srv/x");
  EXPECT_TRUE(c.is_set("state.dir"));
  EXPECT_FALSE(c.override("state.dir", "3"));
  EXPECT_FALSE(c.override("no.such", "1"));
}

TEST(Config, MissingFile) {
  auto r = Config::load_file("/nonexistent/backstop.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

// Values with a syntax are checked when the file is read (config check, start
// and reload), so a bad one is a clear error instead of a failure later.
TEST(Config, ValuesAreCheckedForTheirSyntax) {
  for (const char* bad : {
           "milter.socket_mode = \"0999\"", "milter.socket_mode = \"rw\"", "milter.socket_mode = \"1777\"",
           "milter.socket_mode = \"\"", "milter.listen = \"tcp:1.2.3.4:5\"", "milter.listen = \"inet:h:99999\"",
           "policy.listen = \"unix:\"", "metrics.listen = \"localhost\"", "metrics.listen = \"[::1]80\"",
           "milter.allow_clients = [\"10.0.0.0/33\"]", "outbound.networks = [\"example.org\"]",
           "trap.allow = [\"::ffff:192.0.2.0/64\"]", "daemon.run_as = \"a:b:c\"", "daemon.run_as = \"back stop\"",
           "redis.servers = [\"redis.example.org:6379\"]",
           "redis.servers = [\"\"]", "redis.servers = [\"relative.sock\"]", "redis.servers = [\"10.0.0.1\"]",
           "redis.sentinels = [\"/run/s.sock\"]", "redis.sentinels = [\"\"]", "redis.prefix = \"\"",
           "redis.prefix = \"a b\"", "redis.prefix = \"x\\u00e9\"", "state.backend = \"cluster\"",
           "redis.timeout_ms = 0"}) {
    auto r = Config::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    const std::string key(std::string_view(bad).substr(0, std::string_view(bad).find(' ')));
    EXPECT_NE(r.error().message().find(key), std::string::npos) << r.error().message();
  }
  for (const char* good : {"milter.socket_mode = \"0600\"", "milter.socket_mode = \"660\"",
                           "milter.listen = \"\"", "milter.listen = \"unix:/run/b/m.sock\"",
                           "milter.listen = \"inet:8895@[::1]\"", "metrics.listen = \"[::1]:9895\"",
                           "metrics.listen = \"\"", "milter.allow_clients = [\"192.0.2.1\", \"::ffff:10.0.0.0/104\"]",
                           "daemon.run_as = \"\"", "daemon.run_as = \"backstop:postfix\"",
                           "state.backend = \"redis\"", "redis.servers = [\"10.0.0.5:6379\", \"[2001:db8::5]:6379\"]",
                           "redis.servers = [\"/run/redis/redis-server.sock\"]", "redis.sentinels = [\"10.0.0.6:26379\"]",
                           "redis.prefix = \"{mx}:backstop:\""}) {
    EXPECT_TRUE(Config::parse(good)) << good;
  }
}

// daemon.run_as: USER or USER:GROUP, each a printable name without spaces
// or ':'. Whether they exist is not the parser's business.
TEST(Config, RunAsIsUserOrUserColonGroup) {
  auto u = parse_run_as("backstop");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->user, "backstop");
  EXPECT_EQ(u->group, "");
  auto ug = parse_run_as("backstop:postfix");
  ASSERT_TRUE(ug);
  EXPECT_EQ(ug->user, "backstop");
  EXPECT_EQ(ug->group, "postfix");
  EXPECT_TRUE(parse_run_as("no-such.user_1$"));
  for (const std::string& bad : std::vector<std::string>{"", ":", "backstop:", ":postfix", "a:b:c", "back stop", "tab\there", "nul\x01",
                          "\xc3\xa9t\xc3\xa9", std::string(kMaxAccountName + 1, 'a')}) {
    auto r = parse_run_as(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find("is not USER or USER:GROUP"), std::string::npos) << r.error().message();
  }
}

// docs/configuration.md carries the generated reference; it must not drift.
TEST(Config, DocumentationMatchesTable) {
  std::ifstream in(std::string(BACKSTOP_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md missing";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  for (const auto& k : keys()) {
    EXPECT_NE(doc.find("`" + std::string(k.name) + "`"), std::string::npos)
        << "docs/configuration.md does not document " << k.name;
  }
  EXPECT_NE(doc.find(markdown_reference()), std::string::npos)
      << "docs/configuration.md is out of date: regenerate the reference with "
         "`backstop config doc`";
}

// man/backstop.toml.5 is the generated page, byte for byte.
TEST(Config, ManPageMatchesTable) {
  std::ifstream in(std::string(BACKSTOP_SOURCE_DIR) + "/man/backstop.toml.5");
  ASSERT_TRUE(in) << "man/backstop.toml.5 missing";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_TRUE(ss.str() == man_page())
      << "man/backstop.toml.5 is out of date: regenerate it with "
         "`backstop config doc --man > man/backstop.toml.5`";
  for (const auto& k : keys()) {
    EXPECT_NE(ss.str().find(".B " + std::string(k.name) + "\n"), std::string::npos) << k.name;
  }
}

}  // namespace
}  // namespace backstop::config
