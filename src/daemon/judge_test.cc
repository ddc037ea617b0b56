#include "daemon/judge.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "classify/verdict_json.h"
#include "daemon/engine.h"
#include "daemon/test_messages.h"
#include "mail/mailbox.h"

namespace backstop::daemon {
namespace {

constexpr std::int64_t kT0 = 1'795'000'000;

// A message cut into the header fields a milter receives (folded lines
// joined by LF, as Postfix sends them) and its body.
struct Fields {
  std::vector<std::pair<std::string, std::string>> owned;
  std::vector<mail::FieldView> views;
  std::string body;
};

Fields cut(std::string_view raw) {
  Fields f;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    std::size_t nl = raw.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? raw.size() : nl;
    std::string_view line = raw.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? raw.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if ((line.front() == ' ' || line.front() == '\t') && !f.owned.empty()) {
      f.owned.back().second += "\n" + std::string(line);
      continue;
    }
    const std::size_t colon = line.find(':');
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    f.owned.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  f.body = std::string(raw.substr(pos));
  for (const auto& [n, v] : f.owned) f.views.push_back({n, v});
  return f;
}

// The text those fields stand for (what the milter once rebuilt).
std::string text_of(const Fields& f) {
  std::string raw;
  for (const auto& [n, v] : f.owned) raw += n + ": " + v + "\r\n";
  return raw + "\r\n" + f.body;
}

// What a judgement says: kind, signals, references, correlation, decision,
// conditions and the header section.
std::string describe(const Result<Judgement>& r) {
  if (!r) return "error: " + r.error().to_string();
  std::string s = (r->parsed ? "parsed " : "unparsed ") + classify::verdict_json(r->verdict) + "\n" + summary(*r);
  s += "\ndecision " + std::string(policy::action_name(r->decision.action)) + " " + r->decision.reply.line() +
       " " + r->decision.header_name + ": " + r->decision.header_value;
  for (const auto& e : r->outcome.evidence) s += "\nevidence " + e.source + " " + e.detail;
  s += "\nconditions";
  for (auto c : r->conditions) s += std::string(" ") + mail::condition_name(c);
  for (const auto& h : r->headers.fields()) s += "\n[" + h.name + "] [" + h.value + "]";
  return s;
}

class JudgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("backstop-judge-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto cfg = config::Config::parse("state.dir = \"" + dir_.string() +
                                     "\"\ndomains.local = [\"example.org\"]\nledger.warmup_days = 0\n");
    ASSERT_TRUE(cfg) << cfg.error().to_string();
    EngineOptions o;
    o.clock = &clock_;
    o.memory_store = true;
    auto e = Engine::create(*cfg, std::move(o));
    ASSERT_TRUE(e) << e.error().to_string();
    engine_ = std::move(*e);
    ASSERT_TRUE(engine_->store().ledger_put("real@example.org",
                                            {kT0 - 86400, "alice@example.org", {"bob@remote.example"}}));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Judges `raw` from its fields and from the text they stand for.
  void expect_same(std::string_view raw, const std::string& what) {
    const Fields f = cut(raw);
    mail::Envelope env{.known = true, .mail_from = "", .rcpts = {"alice@example.org"}, .client_ip = "203.0.113.7"};
    const auto snap = engine_->snapshot();
    const std::string from_text = describe(snap->judge->judge(text_of(f), env));
    const std::string from_fields = describe(snap->judge->judge(f.views, f.body, env));
    EXPECT_EQ(from_fields, from_text) << what;
  }

  std::filesystem::path dir_;
  ManualClock clock_{kT0};
  std::unique_ptr<Engine> engine_;
};

TEST_F(JudgeTest, FieldsAndTextGiveTheSameJudgement) {
  expect_same(testing::dsn("real@example.org", "alice@example.org", "bob@remote.example"), "real bounce");
  expect_same(testing::dsn("forged@example.org", "alice@example.org", "victim@remote.example"), "forged bounce");
  expect_same(testing::plain("bob@remote.example", "alice@example.org", "p1@remote.example"), "plain");
  expect_same("Subject: =?UTF-8?Q?Automatische_Antwort:_Abwesend?=\r\n"
              "From: =?UTF-8?B?SsO8cmdlbg==?= <j@remote.example>\r\n"
              "Auto-Submitted: auto-replied\r\n"
              "In-Reply-To: <real@example.org>\r\n\r\n"
              "Ich bin bis Montag nicht im Buero.\r\n",
              "autoreply with encoded words");
  expect_same("no header section at all\r\n", "not a message");
}

// The labelled corpora, when this checkout has them next to it.
TEST_F(JudgeTest, SharedCorporaGiveTheSameJudgement) {
  const char* shared = std::getenv("BACKSTOP_SHARED");
  if (shared == nullptr || !std::filesystem::is_directory(std::string(shared) + "/corpora")) {
    GTEST_SKIP() << "no ../shared/corpora";
  }
  auto src = mail::open_source(std::string(shared) + "/corpora");
  ASSERT_TRUE(src) << src.error().message();
  int n = 0;
  while (auto next = (*src)->next()) {
    if (!*next) continue;
    expect_same((**next).bytes, (**next).location + "#" + std::to_string((**next).index));
    if (HasFailure()) break;  // one message's diff is enough
    ++n;
  }
  EXPECT_GT(n, 1000);
}

}  // namespace
}  // namespace backstop::daemon
