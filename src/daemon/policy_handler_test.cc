#include "daemon/policy_handler.h"

#include <future>

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <unistd.h>

#include "store/fault_store.h"

namespace backstop::daemon {
namespace {

constexpr std::int64_t kT0 = 1'795'000'000;

class PolicyHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("backstop-policy-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    start(0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The handler over a new engine with BATV enforced after `grace_days`,
  // the top-level keys `extra`, and `store` (null: a memory store).
  void start(int grace_days, std::unique_ptr<store::Store> store = nullptr, const std::string& extra = "") {
    handler_.reset();
    engine_.reset();
    auto cfg = config::Config::parse(extra + "state.dir = \"" + dir_.string() +
                                     "\"\ndomains.local = [\"example.org\"]\nbatv.mode = \"enforce\"\n"
                                     "batv.grace_days = " + std::to_string(grace_days) +
                                     "\noutbound.networks = [\"192.0.2.0/24\"]\n"
                                     "[[limits.rule]]\nscope = \"sasl_user\"\nmessages = \"2/1h\"\n"
                                     "recipients = \"5/1h\"\n"
                                     "[[limits.rule]]\nname = \"net\"\nscope = \"client_ip\"\n"
                                     "match = \"192.0.2.99\"\nmessages = \"1/1h\"\naction = \"hold\"\n");
    ASSERT_TRUE(cfg);
    EngineOptions o;
    o.clock = &clock_;
    o.memory_store = true;
    o.store = std::move(store);
    auto e = Engine::create(*cfg, std::move(o));
    ASSERT_TRUE(e) << e.error().to_string();
    engine_ = std::move(*e);
    handler_ = std::make_unique<PolicyHandler>(engine_.get(), [this](std::string_view line) {
      std::lock_guard lock(mu_);
      logs_.emplace_back(line);
    });
  }

  std::string ask(std::vector<std::pair<std::string, std::string>> attrs) {
    policyd::Request r;
    r.add("request", "smtpd_access_policy");
    r.add("protocol_state", "RCPT");
    for (auto& [k, v] : attrs) r.add(k, v);
    // Outbound requests are answered from the engine's worker.
    auto p = std::make_shared<std::promise<std::string>>();
    handler_->check(r, [p](std::string a) { p->set_value(std::move(a)); });
    auto f = p->get_future();
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return "<none>";
    return f.get();
  }

  std::filesystem::path dir_;
  ManualClock clock_{kT0};
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<PolicyHandler> handler_;
  std::mutex mu_;
  std::vector<std::string> logs_;
};

TEST_F(PolicyHandlerTest, BatvAtRcpt) {
  EXPECT_EQ(ask({{"sender", ""}, {"recipient", "alice@example.org"}, {"client_address", "203.0.113.7"}}),
            "550 5.7.1 <alice@example.org>: invalid or missing BATV tag on a bounce");
  EXPECT_EQ(ask({{"sender", "MAILER-DAEMON@remote.example"}, {"recipient", "alice@example.org"},
                 {"client_address", "203.0.113.7"}})
                .substr(0, 3),
            "550");
  auto snap = engine_->snapshot();
  auto tagged = batv::sign(snap->keys, snap->signer, "alice@example.org", clock_.unix_day());
  ASSERT_EQ(tagged.status, batv::SignStatus::kSigned);
  EXPECT_EQ(ask({{"sender", ""}, {"recipient", tagged.address}, {"client_address", "203.0.113.7"}}), "DUNNO");
}

// In the grace period the refusal is only counted, as the milter counts it.
TEST_F(PolicyHandlerTest, BatvGracePeriodIsCounted) {
  start(7);
  EXPECT_EQ(ask({{"sender", ""}, {"recipient", "alice@example.org"}, {"client_address", "203.0.113.7"}}), "DUNNO");
  const std::string text = engine_->metrics().render();
  EXPECT_NE(text.find("backstop_batv_recipients_total{action=\"grace\",result=\"not-tagged\"} 1"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("action=\"record\""), std::string::npos) << text;
}

TEST_F(PolicyHandlerTest, NotJudged) {
  // ordinary senders, foreign domains, authenticated and outbound clients, other stages
  EXPECT_EQ(ask({{"sender", "bob@remote.example"}, {"recipient", "alice@example.org"}}), "DUNNO");
  EXPECT_EQ(ask({{"sender", ""}, {"recipient", "x@elsewhere.example"}}), "DUNNO");
  EXPECT_EQ(ask({{"sender", ""}, {"recipient", "alice@example.org"}, {"sasl_username", "bob"}}), "DUNNO");
  EXPECT_EQ(ask({{"sender", ""}, {"recipient", "alice@example.org"}, {"client_address", "192.0.2.9"}}),
            "DUNNO");
  policyd::Request r;
  r.add("protocol_state", "DATA");
  std::string answer;
  handler_->check(r, [&](std::string a) { answer = std::move(a); });
  EXPECT_EQ(answer, "DUNNO");
}

// Outbound: the first RCPT of an instance counts the message, each RCPT a recipient.
TEST_F(PolicyHandlerTest, OutboundLimitsPerInstance) {
  auto rcpt = [&](const std::string& instance, const std::string& to) {
    return ask({{"sender", "alice@example.org"}, {"recipient", to}, {"sasl_username", "alice"},
                {"client_address", "203.0.113.50"}, {"instance", instance}});
  };
  EXPECT_EQ(rcpt("i1", "a@remote.example"), "DUNNO");
  EXPECT_EQ(rcpt("i1", "b@remote.example"), "DUNNO") << "same message: not a second message";
  EXPECT_EQ(rcpt("i2", "c@remote.example"), "DUNNO");
  auto third = rcpt("i3", "d@remote.example");
  EXPECT_EQ(third.substr(0, 10), "451 4.7.1 ") << third;
  EXPECT_NE(third.find("messages from sasl_user alice"), std::string::npos) << third;
  // Recipients: 3 counted so far (the refused message's was not); 2 more pass, then 451.
  EXPECT_EQ(rcpt("i2", "e@remote.example"), "DUNNO");
  EXPECT_EQ(rcpt("i2", "f@remote.example"), "DUNNO");
  EXPECT_EQ(rcpt("i2", "g@remote.example").substr(0, 9), "451 4.7.1");
  // The hold action of an outbound network's override.
  auto net = [&](const std::string& instance) {
    return ask({{"sender", "x@example.org"}, {"recipient", "a@remote.example"}, {"client_address", "192.0.2.99"},
                {"instance", instance}});
  };
  EXPECT_EQ(net("n1"), "DUNNO");
  EXPECT_EQ(net("n2").substr(0, 5), "HOLD ");
}

// A request whose check throws (here the store, as a bug would) is answered
// 451 4.3.0 for itself alone, counted and logged; the requests after it are
// checked as usual. Under milter.on_error = "accept" the answer is DUNNO.
TEST_F(PolicyHandlerTest, AnExceptionWhileCheckingIsATempfailForThatRequestOnly) {
  for (const bool fail_open : {false, true}) {
    SCOPED_TRACE(fail_open ? "fail open" : "tempfail");
    auto fault = std::make_unique<store::FaultStore>(store::make_memory_store());
    store::FaultStore* fs = fault.get();
    start(0, std::move(fault), fail_open ? "milter.on_error = \"accept\"\n" : "");
    logs_.clear();
    auto outbound = [&](const std::string& instance) {
      return ask({{"sender", "alice@example.org"}, {"recipient", "a@remote.example"}, {"sasl_username", "alice"},
                  {"client_address", "203.0.113.50"}, {"instance", instance}});
    };
    fs->throw_on_writes(1);  // the outbound limits' counting
    EXPECT_EQ(outbound("t1"), fail_open ? "DUNNO" : "451 4.3.0 Temporary local problem, please try again later");
    EXPECT_EQ(fs->failed_calls(), 1u) << "the check must really have thrown";
    EXPECT_EQ(outbound("t2"), "DUNNO");
    EXPECT_EQ(ask({{"sender", ""}, {"recipient", "alice@example.org"}, {"client_address", "203.0.113.7"}}).substr(0, 10),
              "550 5.7.1 ");
    const std::string text = engine_->metrics().render();
    EXPECT_NE(text.find("backstop_errors_total{where=\"internal\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find(fail_open ? "backstop_policy_requests_total{action=\"DUNNO\"} 2\n"
                                  : "backstop_policy_requests_total{action=\"451\"} 1\n"),
              std::string::npos)
        << text;
    std::lock_guard lock(mu_);
    ASSERT_FALSE(logs_.empty());
    EXPECT_NE(logs_.front().find("policy client=203.0.113.50 from=<alice@example.org> to=<a@remote.example> "
                                 "internal failure: exception while checking: injected store exception"),
              std::string::npos)
        << logs_.front();
  }
}

}  // namespace
}  // namespace backstop::daemon
