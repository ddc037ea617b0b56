#include "outbound/limits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/redis_store.h"
#include "store/redis_test_util.h"
#include "store/test_util.h"

namespace backstop::outbound {
namespace {

constexpr std::int64_t kT0 = 1'800'000'000;

Rule rule(const std::map<std::string, std::string>& t) {
  auto r = parse_rule(t, 0);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? *r : Rule{};
}

// Every behaviour on the memory store (records_update(), as LMDB) and on a
// real redis-server (its own window counting, one script per event).
class LimiterTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") return;
    std::string why;
    bool skip = false;
    auto* server = store::testing::shared_redis_server(&why, &skip);
    if (!server && skip) GTEST_SKIP() << why;
    ASSERT_NE(server, nullptr) << why;
    auto s = store::open_redis_store({.servers = {server->socket()}, .prefix = store::testing::fresh_prefix(),
                                      .timeout = std::chrono::milliseconds(5000)},
                                     {.clock = &clock_});
    ASSERT_TRUE(s) << s.error().to_string();
    store_ = std::move(*s);
    ASSERT_NE(store_->window_counter(), nullptr);
  }
  Limiter make(std::vector<Rule> rules, std::vector<std::string> exempt = {}) {
    auto l = Limiter::create({std::move(rules), std::move(exempt)}, store_.get(), &clock_);
    EXPECT_TRUE(l) << l.error().to_string();
    return std::move(*l);
  }
  ManualClock clock_{kT0};
  std::unique_ptr<store::Store> store_ = store::make_memory_store({.clock = &clock_});
};

TEST(Rules, ParseAndRefuse) {
  auto r = parse_rule({{"scope", "client_ip"}, {"messages", "5/1m, 100/1d"}, {"action", "hold"}}, 3);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->scope, Scope::kClientIp);
  EXPECT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->action, Action::kHold);
  EXPECT_EQ(r->name, "client_ip");
  EXPECT_FALSE(parse_rule({{"scope", "planet"}, {"messages", "1/1m"}}, 0));
  EXPECT_FALSE(parse_rule({{"messages", "1/1m"}, {"action", "explode"}}, 0));
  EXPECT_FALSE(parse_rule({{"scope", "sasl_user"}}, 0)) << "no windows";
  EXPECT_FALSE(parse_rule({{"messages", "1/1m"}, {"colour", "red"}}, 0));
  EXPECT_FALSE(parse_rule({{"messages", "1/1m"}, {"name", "a b"}}, 0));
  EXPECT_FALSE(parse_rule({{"scope", "client_ip"}, {"match", "not-an-ip"}, {"messages", "1/1m"}}, 0));
  auto ip6 = parse_rule({{"scope", "client_ip"}, {"match", "2001:db8:1:2::7"}, {"messages", "1/1m"}}, 0);
  ASSERT_TRUE(ip6);
  EXPECT_EQ(ip6->match[0], "2001:db8:1:2::/64");
  EXPECT_FALSE(Limiter::create({{*r, *r}, {}}, nullptr, nullptr)) << "duplicate names";
}

TEST_P(LimiterTest, ExactlyNMessagesPerWindowAndRefusedOnesDoNotCount) {
  auto l = make({rule({{"scope", "sasl_user"}, {"messages", "5/1h"}})});
  Client alice{"Alice", "192.0.2.1", "alice@example.org"};
  for (int i = 0; i < 5; ++i) {
    auto v = l.message(alice);
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->refused) << i;
  }
  auto v = l.message(alice);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->refused);
  EXPECT_EQ(v->action, Action::kTempfail);
  ASSERT_EQ(v->trips.size(), 1u);
  EXPECT_EQ(v->trips[0].identity, "alice");
  EXPECT_EQ(v->trips[0].count, 6);
  EXPECT_TRUE(v->trips[0].first);
  EXPECT_EQ(v->reason(), "too many messages from sasl_user alice (limit 5/1h)");
  EXPECT_FALSE(l.message(alice)->trips[0].first) << "one notice per window";
  // Another user has its own count.
  EXPECT_FALSE(l.message({"bob", "192.0.2.1", "bob@example.org"})->refused);
  // After the window (plus one step) alice may send again.
  clock_.advance(3600 + 360);
  EXPECT_FALSE(l.message(alice)->refused);
}

TEST_P(LimiterTest, RecipientsSeveralWindowsOverridesAndExemptions) {
  auto l = make({rule({{"scope", "sender_domain"}, {"recipients", "10/1m, 15/1h"}}),
                 rule({{"name", "big"}, {"scope", "sender_domain"}, {"match", "big.example"},
                       {"recipients", "1000/1m"}})},
                {"@lists.example.org", "news@example.org", "192.0.2.128/25", "robot"});
  Client c{"", "192.0.2.1", "x@example.org"};
  EXPECT_FALSE(l.recipients(c, 10)->refused);
  EXPECT_TRUE(l.recipients(c, 1)->refused) << "11th recipient in the minute";
  clock_.advance(70);
  EXPECT_FALSE(l.recipients(c, 5)->refused);
  auto v = l.recipients(c, 1);
  EXPECT_TRUE(v->refused) << "16th in the hour";
  EXPECT_EQ(v->trips[0].window.text, "15/1h");
  // The override replaces the general rule for its domain.
  EXPECT_FALSE(l.recipients({"", "192.0.2.1", "a@BIG.example"}, 500)->refused);
  // Exemptions: sender domain, sender address, client network, SASL user.
  for (const Client& e : {Client{"", "192.0.2.1", "l@lists.example.org"}, Client{"", "192.0.2.1", "news@example.org"},
                          Client{"", "192.0.2.200", "x@example.org"}, Client{"ROBOT", "192.0.2.1", "x@example.org"}}) {
    EXPECT_TRUE(l.exempt(e)) << e.sender;
    EXPECT_FALSE(l.recipients(e, 100)->refused) << e.sender;
  }
}

TEST_P(LimiterTest, ManyEnvelopeSendersTripOneSenderDoesNot) {
  auto l = make({rule({{"scope", "client_ip"}, {"senders", "20/1h"}})});
  // One sender, many messages: never trips.
  for (int i = 0; i < 200; ++i) ASSERT_FALSE(l.message({"", "192.0.2.7", "alice@example.org"})->refused);
  // 50 forged senders from one client: the 21st distinct one trips.
  int refused = 0, first_refused = -1;
  for (int i = 0; i < 50; ++i) {
    auto v = l.message({"", "192.0.2.9", "user" + std::to_string(i) + "@forged" + std::to_string(i) + ".example"});
    ASSERT_TRUE(v);
    if (v->refused) {
      ++refused;
      if (first_refused < 0) first_refused = i;
    }
  }
  EXPECT_EQ(first_refused, 20);
  EXPECT_EQ(refused, 30);
  // A sender already seen in the window still passes.
  EXPECT_FALSE(l.message({"", "192.0.2.9", "user3@forged3.example"})->refused);
  // IPv6 clients count per /64.
  for (int i = 0; i < 20; ++i) {
    ASSERT_FALSE(l.message({"", "2001:db8::" + std::to_string(i + 1), "s" + std::to_string(i) + "@x"})->refused);
  }
  EXPECT_TRUE(l.message({"", "2001:db8::ffff", "s99@x"})->refused);
}

TEST_P(LimiterTest, AlertOnlyRulesCountButNeverRefuse) {
  auto l = make({rule({{"scope", "sasl_user"}, {"messages", "2/1h"}, {"action", "alert"}})});
  Client c{"carol", "192.0.2.1", "carol@example.org"};
  EXPECT_TRUE(l.message(c)->trips.empty());
  EXPECT_TRUE(l.message(c)->trips.empty());
  auto v = l.message(c);
  EXPECT_FALSE(v->refused);
  ASSERT_EQ(v->trips.size(), 1u);
  EXPECT_EQ(v->action, Action::kAlert);
  EXPECT_TRUE(v->trips[0].first);
  EXPECT_FALSE(l.message(c)->trips[0].first);
}

// 16 threads against one limit on LMDB: exactly N get through.
INSTANTIATE_TEST_SUITE_P(Backends, LimiterTest, ::testing::Values("memory", "redis"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(LimiterConcurrency, SixteenThreadsLetExactlyNThroughOnLmdb) {
  store::testing::TempDir dir;
  ManualClock clock{kT0};
  auto st = store::open_lmdb_store({.dir = dir.path(), .map_size = 1 << 24, .sync = false}, {.clock = &clock});
  ASSERT_TRUE(st) << st.error().to_string();
  auto l = Limiter::create({{rule({{"scope", "client_ip"}, {"messages", "100/1h"}, {"recipients", "1000/1h"}})}, {}},
                           st->get(), &clock);
  ASSERT_TRUE(l);
  std::atomic<int> passed{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto v = l->message({"", "198.51.100.1", "a@example.org"});
        if (!v) ++errors;
        else if (!v->refused) ++passed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(passed.load(), 100);
}

TEST_P(LimiterTest, LargeDistinctLimitsUseRecordsAndStillCount) {
  // 600 senders is beyond what a Redis window holds exactly (kMaxNativeDistinct):
  // that window is a record, and the message window beside it stays native.
  auto l = make({rule({{"scope", "client_ip"}, {"senders", "600/1h"}, {"messages", "400/1h"}})});
  for (int i = 0; i < 400; ++i) {
    auto v = l.message({"", "192.0.2.9", "user" + std::to_string(i) + "@forged.example"});
    ASSERT_TRUE(v) << v.error().to_string();
    ASSERT_FALSE(v->refused) << i;
  }
  auto v = l.message({"", "192.0.2.9", "one-more@forged.example"});
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->refused);
  ASSERT_EQ(v->trips.size(), 1u);
  EXPECT_EQ(v->trips[0].measure, Measure::kMessages);
  EXPECT_EQ(v->trips[0].count, 401);
}

TEST_P(LimiterTest, NoRulesNeverTouchTheStore) {
  auto l = Limiter::create({}, nullptr, &clock_);
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->enabled());
  EXPECT_FALSE(l->message({"a", "192.0.2.1", "a@b"})->refused);
}

}  // namespace
}  // namespace backstop::outbound
