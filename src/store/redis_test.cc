// Redis-only behaviour, against real redis-server processes: a server that
// dies or stalls gives kUnavailable within the timeout, never a hang or a
// crash, and the store recovers by itself when a server is back; limits are
// exact across two store instances (two hosts); hostile values under our keys
// are errors; expiry is also handed to Redis; Sentinel discovery, and asking
// again after a READONLY reply. Without redis-server installed these tests
// are skipped; a server that does not start fails them.
#include <gtest/gtest.h>

#include <algorithm>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "store/redis_store.h"
#include "store/redis_test_util.h"
#include "store/store.h"

namespace backstop::store {
namespace {

using testing::RedisServer;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr std::int64_t kT0 = 1'700'000'000;
// Short, so the failure tests are quick; still far above a local round trip.
constexpr milliseconds kShortTimeout{300};
// A call against a dead or stalled server: at most a connection wait plus a
// network wait or two, each bounded by the timeout (slack for sanitizers).
constexpr milliseconds kFailWithin = 4 * kShortTimeout + milliseconds(1500);
// Generous for the tests that must succeed under sanitizers and load.
constexpr milliseconds kTestTimeout{5000};
// How long a store may take to come back once the server is back: the
// back-off is at most 2 s between attempts.
constexpr auto kRecoverWithin = std::chrono::seconds(15);

milliseconds since(SteadyClock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - t);
}

std::unique_ptr<Store> open_at(const std::string& socket, const std::string& prefix, milliseconds timeout,
                               Options o = {}) {
  auto s = open_redis_store({.servers = {socket}, .prefix = prefix, .timeout = timeout}, o);
  EXPECT_TRUE(s) << s.error().to_string();
  return s ? std::move(*s) : nullptr;
}

// Polls `ok` until it holds or `within` passes.
template <class F>
bool eventually(F ok, std::chrono::seconds within = kRecoverWithin) {
  const auto end = SteadyClock::now() + within;
  while (SteadyClock::now() < end) {
    if (ok()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

// Tests on the process's shared server, each under a fresh prefix.
class RedisShared : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    bool skip = false;
    server_ = testing::shared_redis_server(&why, &skip);
    if (!server_ && skip) GTEST_SKIP() << why;
    ASSERT_NE(server_, nullptr) << why;
    prefix_ = testing::fresh_prefix();
  }
  std::unique_ptr<Store> open(Options o = {}) { return open_at(server_->socket(), prefix_, kTestTimeout, o); }
  std::string raw(const std::vector<std::string>& args) { return testing::redis_command(server_->socket(), args); }

  RedisServer* server_ = nullptr;
  std::string prefix_;
};

// Tests that start (and kill) their own server.
class RedisOwn : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(server_.start()) << server_.error();
  }
  RedisServer server_;
};

TEST(RedisOptions, EndpointsAndPrefixesAreChecked) {
  auto unix_ep = parse_redis_endpoint("/run/redis/redis.sock");
  ASSERT_TRUE(unix_ep);
  EXPECT_EQ(unix_ep->path, "/run/redis/redis.sock");
  auto v4 = parse_redis_endpoint("192.0.2.1:6379");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "192.0.2.1");
  EXPECT_EQ(v4->port, 6379);
  auto v6 = parse_redis_endpoint("[2001:db8::1]:26379");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "2001:db8::1");
  EXPECT_EQ(v6->to_string(), "[2001:db8::1]:26379");
  EXPECT_TRUE(parse_redis_endpoint("localhost:6379"));
  for (const char* bad : {"", "6379", "redis.example.org:6379", "192.0.2.1:0", "192.0.2.1:70000", "192.0.2.1:",
                          "[2001:db8::1]6379", "relative/path.sock"}) {
    EXPECT_FALSE(parse_redis_endpoint(bad)) << bad;
  }
  EXPECT_TRUE(check_redis_prefix("backstop:"));
  EXPECT_FALSE(check_redis_prefix(""));
  EXPECT_FALSE(check_redis_prefix("a b"));
  EXPECT_FALSE(check_redis_prefix(std::string(kMaxRedisPrefixBytes + 1, 'p')));

  EXPECT_EQ(open_redis_store({}).error().code(), Code::kInvalidArgument) << "no server";
  EXPECT_EQ(open_redis_store({.servers = {"nohost:1"}}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(open_redis_store({.sentinel_master = "m"}).error().code(), Code::kInvalidArgument) << "no sentinels";
  EXPECT_EQ(open_redis_store({.servers = {"/x.sock"}, .prefix = ""}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(open_redis_store({.servers = {"/x.sock"}, .max_connections = 0}).error().code(), Code::kInvalidArgument);
}

TEST(RedisOptions, NoServerIsUnavailableAtOnce) {
  testing::TempDir dir;
  const auto t = SteadyClock::now();
  auto s = open_redis_store({.servers = {dir.path() + "/none.sock"}, .timeout = kShortTimeout});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kUnavailable) << s.error().to_string();
  EXPECT_LT(since(t), kFailWithin);
}

TEST_F(RedisOwn, ServerKilledGivesUnavailableThenRecoversOnItsOwn) {
  auto s = open_at(server_.socket(), "k:", kShortTimeout);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->record_put("before", "v", 0));
  ASSERT_TRUE(*s->counter_add_if_below("c", 1, 10, 0));

  server_.kill_now();
  auto t = SteadyClock::now();
  auto r = s->record_get("before");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnavailable) << r.error().to_string();
  EXPECT_LT(since(t), kFailWithin);

  // While it is down, every call from every thread fails cleanly and soon
  // (the back-off answers at once; no reconnect storm, no crash).
  std::atomic<int> wrong{0}, slow{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 25; ++j) {
        const auto start = SteadyClock::now();
        auto w = s->counter_add_if_below("c", 1, 10, 0);
        if (w || w.error().code() != Code::kUnavailable) ++wrong;
        if (since(start) > kFailWithin) ++slow;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(slow.load(), 0);

  // A server on the same socket again (empty: this one persists nothing).
  ASSERT_TRUE(server_.start()) << server_.error();
  ASSERT_TRUE(eventually([&] { return s->record_put("after", "v", 0).has_value(); }));
  EXPECT_EQ(**s->record_get("after"), "v");
  // The restarted server has lost the scripts: EVALSHA falls back to EVAL.
  auto again = s->counter_add_if_below("c", 1, 10, 0);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_TRUE(*again);
  EXPECT_EQ(*s->counter_get("c"), 1);
}

TEST_F(RedisOwn, StalledServerTimesOutThenRecovers) {
  auto s = open_at(server_.socket(), "s:", kShortTimeout);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->record_put("k", "v", 0));
  server_.pause();
  auto t = SteadyClock::now();
  auto r = s->record_get("k");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnavailable) << r.error().to_string();
  EXPECT_LT(since(t), kFailWithin);
  t = SteadyClock::now();
  auto w = s->ledger_put("m@x", {kT0, "a@b", {"c@d"}});
  ASSERT_FALSE(w);
  EXPECT_LT(since(t), kFailWithin);
  server_.resume();
  ASSERT_TRUE(eventually([&] {
    auto g = s->record_get("k");
    return g && g->has_value();
  }));
}

// Counts what the client reports (store::RemoteObserver).
class CountingObserver final : public RemoteObserver {
 public:
  void round_trip(std::size_t n, double seconds, Result result) noexcept override {
    ++trips[static_cast<int>(result)];
    commands += n;
    if (seconds >= 0) ++timed;
  }
  void connect_attempt(bool ok) noexcept override { ++(ok ? connects_ok : connects_failed); }
  std::atomic<int> trips[3] = {0, 0, 0};
  std::atomic<std::size_t> commands{0};
  std::atomic<int> timed{0}, connects_ok{0}, connects_failed{0};
  int ok() const { return trips[0]; }
  int error_replies() const { return trips[1]; }
  int failed() const { return trips[2]; }
};

TEST_F(RedisOwn, ObserverSeesRoundTripsCommandsFailuresAndConnects) {
  CountingObserver seen;
  ManualClock clock(kT0);
  auto s = open_at(server_.socket(), "o:", kShortTimeout, {.clock = &clock, .remote_observer = &seen});
  ASSERT_NE(s, nullptr);
  EXPECT_GE(seen.connects_ok.load(), 1);
  const int ok0 = seen.ok();
  const std::size_t cmds0 = seen.commands;
  ASSERT_TRUE(s->record_put("k", "v", 0));
  EXPECT_EQ(seen.ok(), ok0 + 1);
  // A bounce's reads, recipient finds included, are one round trip when the
  // index names no entry: 2 finds + 2 ledger GETs + the first time + 1
  // correspondent = 6 commands.
  ReadBatch batch;
  batch.ledger_ids = {"a@x", "b@x"};
  batch.ledger_first_time = true;
  batch.correspondents = {{"alice@example.org", "bob@example.net"}};
  batch.ledger_finds = {{LedgerKey::kRecipient, "carol@example.net", kT0 - 100, kT0 + 100},
                        {LedgerKey::kEnvid, "env1", kT0 - 100, kT0 + 100}};
  const int ok1 = seen.ok();
  const std::size_t cmds1 = seen.commands;
  ASSERT_TRUE(s->read_batch(batch));
  EXPECT_EQ(seen.ok(), ok1 + 1);
  EXPECT_EQ(seen.commands - cmds1, 6u);
  // With an entry the recipient's index names, its entry takes a second.
  ASSERT_TRUE(s->ledger_put("m@x", LedgerEntry{.time = kT0, .sender = "a@example.org", .recipients = {"carol@example.net"}}));
  const int ok2 = seen.ok();
  auto found = s->read_batch(batch);
  ASSERT_TRUE(found) << found.error().to_string();
  ASSERT_EQ(found->finds.size(), 2u);
  EXPECT_EQ(found->finds[0].size(), 1u);
  EXPECT_EQ(seen.ok(), ok2 + 2);
  EXPECT_GT(seen.commands, cmds0);
  EXPECT_EQ(seen.timed.load(), seen.ok() + seen.error_replies() + seen.failed());
  EXPECT_EQ(seen.failed(), 0);
  // A value of the wrong type under one of our keys: an error reply.
  ASSERT_EQ(testing::redis_command(server_.socket(), {"HSET", "o:r:h", "f", "v"}), "1");
  EXPECT_FALSE(s->record_get("h"));
  EXPECT_GE(seen.error_replies(), 1);
  // The server gone: a failed round trip, then failed connection attempts.
  server_.kill_now();
  EXPECT_FALSE(s->record_get("k"));
  EXPECT_EQ(seen.failed(), 1);
  std::this_thread::sleep_for(kRedisBackoffMin * 2);
  EXPECT_FALSE(s->record_get("k"));
  EXPECT_GE(seen.connects_failed.load(), 1);
}

TEST_F(RedisOwn, ScriptFlushFallsBackToEval) {
  auto s = open_at(server_.socket(), "f:", kTestTimeout);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(testing::redis_command(server_.socket(), {"SCRIPT", "FLUSH"}), "OK");
  auto r = s->counter_add("c", 3, 0);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, 3);
  ASSERT_TRUE(s->purge_expired());
}

TEST_F(RedisShared, CounterLimitExactAcrossTwoHosts) {
  // Two store instances stand for two backstop hosts sharing the server.
  ManualClock clock(kT0);
  auto a = open({.clock = &clock});
  auto b = open({.clock = &clock});
  ASSERT_TRUE(a && b);
  constexpr int kThreadsPerHost = 8, kTries = 30, kLimit = 100;
  std::atomic<int> admitted{0}, errors{0};
  std::vector<std::thread> threads;
  for (Store* host : {a.get(), b.get()}) {
    for (int i = 0; i < kThreadsPerHost; ++i) {
      threads.emplace_back([&, host] {
        for (int j = 0; j < kTries; ++j) {
          auto r = host->counter_add_if_below("rl:shared", 1, kLimit, kT0 + 3600);
          if (!r) ++errors;
          else if (*r) ++admitted;
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), kLimit);
  EXPECT_EQ(*a->counter_get("rl:shared"), kLimit);
  EXPECT_EQ(*b->counter_get("rl:shared"), kLimit);
}

WindowSpec count_window(std::string key, std::int64_t limit, std::int64_t seconds = 3600, bool enforcing = true) {
  WindowSpec w;
  w.key = key;
  w.alert_key = key + ":alert";
  w.kind = WindowSpec::Kind::kCount;
  w.seconds = seconds;
  w.step = std::max<std::int64_t>(1, seconds / 10);
  w.limit = limit;
  w.enforcing = enforcing;
  return w;
}

WindowSpec distinct_window(std::string key, std::int64_t limit, std::uint64_t member, std::int64_t seconds = 3600) {
  WindowSpec w = count_window(std::move(key), limit, seconds);
  w.kind = WindowSpec::Kind::kDistinct;
  w.step = std::max<std::int64_t>(1, seconds / 4);
  w.member = member;
  return w;
}

TEST_F(RedisShared, WindowsCountExactlyAndMarkTheFirstTrip) {
  ManualClock clock(kT0);
  auto s = open({.clock = &clock});
  ASSERT_TRUE(s);
  WindowCounter* wc = s->window_counter();
  ASSERT_NE(wc, nullptr);
  const std::vector<WindowSpec> one{count_window("w1", 3)};
  for (int i = 1; i <= 3; ++i) {
    auto r = wc->check_and_count(one, kT0);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ((*r)[0].count, i);
    EXPECT_FALSE((*r)[0].exceeded);
  }
  auto r = wc->check_and_count(one, kT0 + 1);
  ASSERT_TRUE(r);
  EXPECT_TRUE((*r)[0].exceeded);
  EXPECT_TRUE((*r)[0].first);
  EXPECT_EQ((*r)[0].count, 4);
  r = wc->check_and_count(one, kT0 + 2);
  ASSERT_TRUE(r);
  EXPECT_TRUE((*r)[0].exceeded);
  EXPECT_FALSE((*r)[0].first) << "the trip is marked for the window's length";
  EXPECT_EQ((*r)[0].count, 4) << "a refused event is not counted";
  // The three events leave the window between one hour and one hour plus a step.
  r = wc->check_and_count(one, kT0 + 3600 + 360);
  ASSERT_TRUE(r);
  EXPECT_FALSE((*r)[0].exceeded);
  EXPECT_EQ((*r)[0].count, 1);
}

TEST_F(RedisShared, WindowsRefuseAllOrNothingAndAlertWindowsDoNotRefuse) {
  ManualClock clock(kT0);
  auto s = open({.clock = &clock});
  ASSERT_TRUE(s);
  WindowCounter* wc = s->window_counter();
  // An alert-only window of 1 and an enforcing window of 2.
  std::vector<WindowSpec> both{count_window("alert", 1, 3600, false), count_window("hard", 2)};
  auto r = wc->check_and_count(both, kT0);
  ASSERT_TRUE(r);
  EXPECT_FALSE((*r)[0].exceeded);
  r = wc->check_and_count(both, kT0);
  ASSERT_TRUE(r);
  EXPECT_TRUE((*r)[0].exceeded) << "alert windows trip but do not refuse";
  EXPECT_TRUE((*r)[0].first);
  EXPECT_FALSE((*r)[1].exceeded);
  r = wc->check_and_count(both, kT0);
  ASSERT_TRUE(r);
  EXPECT_TRUE((*r)[1].exceeded);
  EXPECT_EQ((*r)[0].count, 3);
  // Refused: neither window counted it.
  r = wc->check_and_count(both, kT0);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].count, 3);
  EXPECT_EQ((*r)[1].count, 3);
  // Recipients: an amount at once.
  std::vector<WindowSpec> rcpts{count_window("rcpt", 10)};
  rcpts[0].amount = 8;
  EXPECT_FALSE((*wc->check_and_count(rcpts, kT0))[0].exceeded);
  EXPECT_TRUE((*wc->check_and_count(rcpts, kT0))[0].exceeded);
  rcpts[0].amount = 2;
  EXPECT_FALSE((*wc->check_and_count(rcpts, kT0))[0].exceeded);
}

TEST_F(RedisShared, DistinctWindowsCountNewValuesOnly) {
  ManualClock clock(kT0);
  auto s = open({.clock = &clock});
  ASSERT_TRUE(s);
  WindowCounter* wc = s->window_counter();
  for (std::uint64_t m = 1; m <= 5; ++m) {
    for (int again = 0; again < 2; ++again) {
      auto r = wc->check_and_count(std::vector{distinct_window("senders", 5, m)}, kT0);
      ASSERT_TRUE(r) << r.error().to_string();
      EXPECT_EQ((*r)[0].count, static_cast<std::int64_t>(m));
      EXPECT_FALSE((*r)[0].exceeded);
    }
  }
  auto r = wc->check_and_count(std::vector{distinct_window("senders", 5, 99)}, kT0);
  ASSERT_TRUE(r);
  EXPECT_TRUE((*r)[0].exceeded);
  EXPECT_EQ((*r)[0].count, 6);
  // A known value still passes, and the refused one was not kept.
  EXPECT_FALSE((*wc->check_and_count(std::vector{distinct_window("senders", 5, 3)}, kT0))[0].exceeded);
  EXPECT_TRUE((*wc->check_and_count(std::vector{distinct_window("senders", 5, 99)}, kT0))[0].exceeded);
  // Values seen only before the window slid out are forgotten.
  r = wc->check_and_count(std::vector{distinct_window("senders", 5, 99)}, kT0 + 3600 + 900);
  ASSERT_TRUE(r);
  EXPECT_FALSE((*r)[0].exceeded);
  EXPECT_EQ((*r)[0].count, 1);
}

TEST_F(RedisShared, WindowLimitExactAcrossTwoHosts) {
  ManualClock clock(kT0);
  auto a = open({.clock = &clock});
  auto b = open({.clock = &clock});
  ASSERT_TRUE(a && b);
  constexpr int kThreadsPerHost = 8, kTries = 30, kLimit = 100;
  std::atomic<int> admitted{0}, errors{0};
  std::vector<std::thread> threads;
  for (Store* host : {a.get(), b.get()}) {
    for (int i = 0; i < kThreadsPerHost; ++i) {
      threads.emplace_back([&, host] {
        const std::vector<WindowSpec> w{count_window("shared", kLimit), count_window("daily", 1000, 86400)};
        for (int j = 0; j < kTries; ++j) {
          auto r = host->window_counter()->check_and_count(w, kT0);
          if (!r) ++errors;
          else if (!(*r)[0].exceeded) ++admitted;
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), kLimit);
  auto r = a->window_counter()->check_and_count(std::vector{count_window("daily", 1000, 86400)}, kT0);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].count, kLimit + 1) << "the refused events were not counted in the other window either";
}

TEST_F(RedisShared, WindowsSurviveHostileStateAndRefuseBadSpecs) {
  ManualClock clock(kT0);
  auto s = open({.clock = &clock});
  ASSERT_TRUE(s);
  WindowCounter* wc = s->window_counter();
  // A foreign type, garbage fields and a non-integer count under our keys.
  raw({"SET", prefix_ + "w:str", "x"});
  raw({"HSET", prefix_ + "w:hash", "junk", "junk", "abc", "1", std::to_string(kT0 / 360), "1.5"});
  raw({"HSET", prefix_ + "w:dist", "short", std::to_string(kT0 / 900), "0123456789abcdef", "x"});
  raw({"HSET", prefix_ + "w:str:alert", "f", "v"});
  for (const char* k : {"str", "hash"}) {
    auto r = wc->check_and_count(std::vector{count_window(k, 1)}, kT0);
    ASSERT_TRUE(r) << k << ": " << r.error().to_string();
    EXPECT_EQ((*r)[0].count, 1) << k;
    r = wc->check_and_count(std::vector{count_window(k, 1)}, kT0);
    ASSERT_TRUE(r) << k << ": " << r.error().to_string();
    EXPECT_TRUE((*r)[0].exceeded) << k;
    EXPECT_TRUE((*r)[0].first) << k;
  }
  auto r = wc->check_and_count(std::vector{distinct_window("dist", 3, 7)}, kT0);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].count, 1);
  // Out-of-range specs are refused before anything is sent.
  WindowSpec bad = count_window("bad", 0);
  EXPECT_EQ(wc->check_and_count(std::vector{bad}, kT0).error().code(), Code::kInvalidArgument);
  bad = distinct_window("bad", kMaxNativeDistinct, 1);
  EXPECT_EQ(wc->check_and_count(std::vector{bad}, kT0).error().code(), Code::kInvalidArgument);
  bad = count_window("bad", 1);
  bad.step = 0;
  EXPECT_EQ(wc->check_and_count(std::vector{bad}, kT0).error().code(), Code::kInvalidArgument);
  bad = count_window("", 1);
  EXPECT_EQ(wc->check_and_count(std::vector{bad}, kT0).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(wc->check_and_count(std::vector<WindowSpec>{}, kT0).error().code(), Code::kInvalidArgument);
  std::vector<WindowSpec> many(kMaxNativeWindows + 1, count_window("m", 5));
  EXPECT_EQ(wc->check_and_count(many, kT0).error().code(), Code::kInvalidArgument);
}

TEST_F(RedisShared, DistinctWindowsHoldAtMostTheirCap) {
  ManualClock clock(kT0);
  auto s = open({.clock = &clock});
  ASSERT_TRUE(s);
  WindowCounter* wc = s->window_counter();
  // An alert window keeps counting past its limit, up to the cap of kept values.
  for (std::uint64_t m = 1; m <= kMaxNativeDistinct + 50; ++m) {
    WindowSpec w = distinct_window("many", 10, m);
    w.enforcing = false;
    auto r = wc->check_and_count(std::vector{w}, kT0);
    ASSERT_TRUE(r) << r.error().to_string();
  }
  EXPECT_EQ(raw({"HLEN", prefix_ + "w:many"}), std::to_string(kMaxNativeDistinct));
}

TEST_F(RedisShared, RecordsUpdateAtomicAcrossTwoHosts) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  const std::vector<std::string> keys{"w:a", "w:b"};
  auto bump = [](std::span<const std::optional<std::string>> cur) {
    std::vector<RecordChange> out;
    for (const auto& v : cur) out.push_back({RecordChange::Op::kPut, std::to_string(v ? std::stoi(*v) + 1 : 1), 0});
    return out;
  };
  constexpr int kThreadsPerHost = 4, kEach = 25;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (Store* host : {a.get(), b.get()}) {
    for (int i = 0; i < kThreadsPerHost; ++i) {
      threads.emplace_back([&, host] {
        for (int j = 0; j < kEach; ++j) {
          if (!host->records_update(keys, bump)) ++errors;
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  const std::string total = std::to_string(2 * kThreadsPerHost * kEach);
  EXPECT_EQ(**a->record_get("w:a"), total);
  EXPECT_EQ(**b->record_get("w:b"), total);
}

TEST_F(RedisShared, HostileValuesAreErrorsNotCrashes) {
  ManualClock clock(kT0);
  auto s = open({.clock = &clock});
  ASSERT_NE(s, nullptr);
  const std::string& p = prefix_;
  auto code = [](const auto& r) { return r ? std::optional<Code>() : std::optional<Code>(r.error().code()); };

  ASSERT_EQ(raw({"SET", p + "n:c", "garbage"}), "OK");
  EXPECT_EQ(code(s->counter_get("c")), Code::kMalformed);
  EXPECT_EQ(*s->counter_add("c", 2, 0), 2) << "a damaged counter starts a new window, as in LMDB";
  ASSERT_EQ(raw({"SET", p + "n:huge", "99999999999999999999 0"}), "OK");
  EXPECT_EQ(code(s->counter_get("huge")), Code::kMalformed);
  ASSERT_EQ(raw({"HSET", p + "n:hash", "f", "v"}), "1");
  EXPECT_EQ(code(s->counter_get("hash")), Code::kMalformed);
  EXPECT_EQ(*s->counter_add("hash", 1, 0), 1) << "a foreign type is replaced by a new window";

  ASSERT_EQ(raw({"HSET", p + "r:h", "f", "v"}), "1");
  EXPECT_EQ(code(s->record_get("h")), Code::kMalformed);
  ASSERT_EQ(raw({"SET", p + "r:bad", std::string("\x01", 1)}), "OK");
  EXPECT_EQ(code(s->record_get("bad")), Code::kMalformed);
  ASSERT_EQ(raw({"SET", p + "r:huge", std::string(kMaxRecordBytes + 100, 'x')}), "OK");
  EXPECT_EQ(code(s->record_get("huge")), Code::kMalformed);
  const std::vector<std::string> keys{"bad", "ok"};
  auto upd = s->records_update(keys, [](std::span<const std::optional<std::string>> cur) {
    return std::vector<RecordChange>(cur.size());
  });
  EXPECT_EQ(code(upd), Code::kMalformed);
  ASSERT_TRUE(s->record_put("ok", "v", 0)) << "the store works on after a damaged read inside WATCH";

  ASSERT_EQ(raw({"SET", p + "l:m", "junk"}), "OK");
  EXPECT_EQ(code(s->ledger_get("m")), Code::kMalformed);
  ASSERT_EQ(raw({"ZADD", p + "lt", std::to_string(kT0), std::string(kMaxMessageIdBytes + 50, 'x')}), "1");
  EXPECT_EQ(code(s->ledger_recent(10)), Code::kMalformed);
  ASSERT_EQ(raw({"ZADD", p + "lf", "1e300", "t"}), "1");
  EXPECT_EQ(code(s->ledger_first_time()), Code::kMalformed);
  ASSERT_EQ(raw({"ZADD", p + "cx", "0.5", std::string("a@b\0c@d", 7)}), "1");
  EXPECT_EQ(code(s->correspondent_last_seen("a@b", "c@d")), Code::kMalformed);

  ASSERT_EQ(raw({"SET", p + "d:192.0.2.1", "junk"}), "OK");
  ASSERT_EQ(raw({"ZADD", p + "di", "0", "192.0.2.1"}), "1");
  EXPECT_EQ(code(s->listing_get("192.0.2.1")), Code::kMalformed);
  EXPECT_EQ(code(s->listing_all()), Code::kMalformed);
  EXPECT_EQ(code(s->listing_hit("192.0.2.1", {"bounce", "", kT0})), Code::kMalformed);
  ASSERT_EQ(raw({"SET", p + "da", "not a zset"}), "OK");
  EXPECT_EQ(code(s->allowlisted("192.0.2.9")), Code::kMalformed);

  // The purge deletes damaged counters and records (nothing can read them).
  auto purged = s->purge_expired();
  ASSERT_TRUE(purged) << purged.error().to_string();
  EXPECT_GE(*purged, 4u);
  EXPECT_FALSE(s->record_get("bad")->has_value());
  EXPECT_FALSE(s->record_get("h")->has_value());
  EXPECT_EQ(*s->counter_get("huge"), 0);
  EXPECT_TRUE(s->record_get("ok")->has_value());
}

TEST_F(RedisShared, ExportNamesDamagedValuesAndGoesOn) {
  ManualClock clock(kT0);
  auto s = open({.clock = &clock});
  ASSERT_NE(s, nullptr);
  const std::string& p = prefix_;
  ASSERT_TRUE(s->ledger_put("good@x", {kT0, "a@b", {"c@d"}}));
  ASSERT_EQ(raw({"SET", p + "l:junk", "junk"}), "OK");
  ASSERT_EQ(raw({"SET", p + "n:c", "garbage"}), "OK");
  ASSERT_EQ(raw({"SET", p + "r:bad", std::string("\x01", 1)}), "OK");
  ASSERT_EQ(raw({"SET", p + "d:192.0.2.1", "junk"}), "OK");
  ASSERT_EQ(raw({"ZADD", p + "cx", "0.5", std::string("a@b\0c@d", 7)}), "1");
  // Keys of the soft-state stores under this prefix ("<prefix>counters:") are not this store's.
  ASSERT_EQ(raw({"SET", p + "counters:n:x", "1 0"}), "OK");
  struct Seen final : ExportVisitor {
    std::vector<std::string> items, damage;
    Status item(const ExportItem& i) override {
      items.push_back(std::to_string(i.index()));
      return {};
    }
    void damaged(std::string_view what, std::string_view key, std::string_view) override {
      damage.push_back(std::string(what) + " " + std::string(key));
    }
  } seen;
  auto r = s->export_all(seen);
  ASSERT_TRUE(r) << r.error().to_string();
  std::sort(seen.items.begin(), seen.items.end());
  std::sort(seen.damage.begin(), seen.damage.end());
  EXPECT_EQ(seen.items, (std::vector<std::string>{"0", "1"})) << "the good entry and the first time";
  EXPECT_EQ(seen.damage, (std::vector<std::string>{std::string("correspondent a@b\0c@d", 21), "counter c",
                                                   "ledger junk", "listing 192.0.2.1", "record bad"}));
}

TEST_F(RedisShared, ForeignLayoutIsRefused) {
  ASSERT_EQ(raw({"SET", prefix_ + "v", "9"}), "OK");
  auto s = open_redis_store({.servers = {server_->socket()}, .prefix = prefix_, .timeout = kTestTimeout});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kEnvironment) << s.error().to_string();
}

// A prefix written before the ledger's index existed gets it built at open.
TEST_F(RedisShared, OldPrefixGetsTheLedgerIndexBuiltAtOpen) {
  ManualClock clock(kT0);
  {
    auto s = open({.clock = &clock});
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->ledger_put("<old1@x>", {kT0 - 10, "a@b", {"Bob@Example.net"}, "E1"}));
  }
  ASSERT_EQ(raw({"DEL", prefix_ + "kb", prefix_ + "k:rbob@example.net", prefix_ + "k:eE1"}), "3");
  auto s = open({.clock = &clock});
  ASSERT_NE(s, nullptr);
  auto bob = s->ledger_find({LedgerKey::kRecipient, "bob@example.net", kT0 - 100, kT0});
  ASSERT_TRUE(bob) << bob.error().to_string();
  ASSERT_EQ(bob->size(), 1u);
  EXPECT_EQ(bob->front().message_id, "<old1@x>");
  EXPECT_EQ(s->ledger_find({LedgerKey::kEnvid, "E1", kT0 - 100, kT0})->size(), 1u);
  EXPECT_EQ(raw({"GET", prefix_ + "kb"}), "1");
  const long long ttl = std::stoll(raw({"PTTL", prefix_ + "k:rbob@example.net"}));
  EXPECT_GT(ttl, 0) << "the index expires with its newest entry";
}

TEST_F(RedisShared, ExpiryIsAlsoHandedToRedis) {
  ManualClock clock(kT0);
  auto s = open({.clock = &clock});
  ASSERT_NE(s, nullptr);
  auto pttl = [&](const std::string& k) { return std::stoll(raw({"PTTL", prefix_ + k})); };
  const long long grace_ms = kRedisExpiryGrace * 1000;
  ASSERT_TRUE(s->record_put("r", "v", kT0 + 10));
  EXPECT_GT(pttl("r:r"), 10'000 + grace_ms - 5000);
  EXPECT_LE(pttl("r:r"), 10'000 + grace_ms);
  ASSERT_TRUE(s->record_put("never", "v", 0));
  EXPECT_EQ(pttl("r:never"), -1);
  ASSERT_TRUE(s->counter_add("c", 1, kT0 + 60));
  EXPECT_GT(pttl("n:c"), 60'000 + grace_ms - 5000);
  clock.advance(30);
  ASSERT_TRUE(s->counter_add("c", 1, kT0 + 9999));
  EXPECT_LE(pttl("n:c"), 60'000 + grace_ms) << "the window's expiry stays";
  ASSERT_TRUE(s->ledger_put("new@x", {kT0, "a@b", {}}));
  EXPECT_GT(pttl("l:new@x"), (kDefaultLedgerTtl - 30 - 5) * 1000 + grace_ms);
  ASSERT_TRUE(s->ledger_put("old@x", {kT0 - kDefaultLedgerTtl - kDay, "a@b", {}}));
  EXPECT_LE(pttl("l:old@x"), grace_ms) << "already expired: Redis keeps it for the grace only";
  EXPECT_FALSE(s->ledger_get("old@x")->has_value());
}

// A fake Sentinel on loopback TCP: answers every request with the current
// answer (a RESP text) and closes the connection.
class FakeSentinel {
 public:
  FakeSentinel() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeSentinel() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void answer_master(std::uint16_t port) {
    const std::string p = std::to_string(port);
    set_answer("*2\r\n$9\r\n127.0.0.1\r\n$" + std::to_string(p.size()) + "\r\n" + p + "\r\n");
  }
  void set_answer(std::string resp) {
    std::lock_guard lock(mu_);
    answer_ = std::move(resp);
  }
  int queries() const { return queries_.load(); }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      char buf[4096];
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 2000) > 0 && ::recv(c, buf, sizeof buf, 0) > 0) {
        ++queries_;
        std::string reply;
        {
          std::lock_guard lock(mu_);
          reply = answer_;
        }
        (void)!::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
      ::close(c);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::mutex mu_;
  std::string answer_ = "*-1\r\n";
  std::thread thread_;
};

// A server on a TCP port (Sentinel answers host:port), retried if the free
// port was taken meanwhile.
bool start_tcp(RedisServer& s, std::uint16_t* port) {
  for (int i = 0; i < 3; ++i) {
    *port = testing::free_tcp_port();
    if (*port && s.start(*port)) return true;
  }
  return false;
}

TEST(RedisSentinel, FindsTheMasterAndAsksAgainAfterReadonly) {
  if (testing::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer a, b;
  std::uint16_t port_a = 0, port_b = 0;
  ASSERT_TRUE(start_tcp(a, &port_a)) << a.error();
  ASSERT_TRUE(start_tcp(b, &port_b)) << b.error();
  FakeSentinel sentinel;
  sentinel.answer_master(port_a);
  auto s = open_redis_store({.sentinel_master = "mymaster", .sentinels = {sentinel.address()}, .prefix = "sn:",
                             .timeout = milliseconds(1000)});
  ASSERT_TRUE(s) << s.error().to_string();
  ASSERT_TRUE((*s)->record_put("one", "v", 0));
  EXPECT_NE(testing::redis_command(a.socket(), {"EXISTS", "sn:r:one"}), "0");

  // What a failover does: the old master becomes a replica of the new one,
  // and the sentinels name the new one.
  sentinel.answer_master(port_b);
  ASSERT_EQ(testing::redis_command(a.socket(), {"REPLICAOF", "127.0.0.1", std::to_string(port_b)}), "OK");
  ASSERT_TRUE(eventually([&] { return (*s)->record_put("two", "v", 0).has_value(); }));
  EXPECT_EQ(testing::redis_command(b.socket(), {"EXISTS", "sn:r:two"}), "1");
  EXPECT_GE(sentinel.queries(), 2);
}

TEST(RedisServers, TheFirstMasterOfTheListIsUsedAndAReadonlyScriptMovesOn) {
  if (testing::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer a, b;
  std::uint16_t port_b = 0;
  ASSERT_TRUE(a.start()) << a.error();
  ASSERT_TRUE(start_tcp(b, &port_b)) << b.error();
  auto s = open_redis_store({.servers = {a.socket(), b.socket()}, .prefix = "ms:", .timeout = milliseconds(1000)});
  ASSERT_TRUE(s) << s.error().to_string();
  ASSERT_EQ(*(*s)->counter_add("c", 1, 0), 1);
  EXPECT_EQ(testing::redis_command(a.socket(), {"EXISTS", "ms:n:c"}), "1");
  // `a` becomes a replica: the counter script gets READONLY, and the next
  // connection skips `a` (ROLE) for the master `b`.
  ASSERT_EQ(testing::redis_command(a.socket(), {"REPLICAOF", "127.0.0.1", std::to_string(port_b)}), "OK");
  auto refused = (*s)->counter_add("c", 1, 0);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Code::kUnavailable) << refused.error().to_string();
  ASSERT_TRUE(eventually([&] { return (*s)->counter_add("c", 1, 0).has_value(); }));
  EXPECT_EQ(testing::redis_command(b.socket(), {"EXISTS", "ms:n:c"}), "1");
}

TEST(RedisSentinel, GarbageAnswersAreUnavailable) {
  FakeSentinel sentinel;
  for (const char* resp : {"*-1\r\n", "-ERR no such master\r\n", "*2\r\n$3\r\nfoo\r\n:5\r\n",
                           "*2\r\n$9\r\n127.0.0.1\r\n$5\r\n99999\r\n", "*1\r\n$1\r\nx\r\n", "+OK\r\n", "garbage\r\n"}) {
    sentinel.set_answer(resp);
    auto s = open_redis_store({.sentinel_master = "m", .sentinels = {sentinel.address()}, .timeout = kShortTimeout});
    ASSERT_FALSE(s) << resp;
    EXPECT_EQ(s.error().code(), Code::kUnavailable) << resp << ": " << s.error().to_string();
  }
}

}  // namespace
}  // namespace backstop::store
