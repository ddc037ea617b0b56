// open_state(): state.backend decides the store for every command, and with
// Redis the engine's soft state lives under its own prefixes and /healthz
// follows the server. The Redis cases run against a private redis-server
// (skipped when it is not installed).
#include "daemon/state.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "daemon/engine.h"
#include "store/redis_test_util.h"

namespace backstop::daemon {
namespace {

using store::testing::RedisServer;
using store::testing::TempDir;

config::Config parse(const std::string& text) {
  auto cfg = config::Config::parse(text);
  EXPECT_TRUE(cfg) << cfg.error().to_string();
  return cfg ? *cfg : config::Config::defaults();
}

std::string redis_config(const std::string& state_dir, const std::string& socket, const std::string& prefix) {
  return "state.dir = \"" + state_dir + "\"\nstate.backend = \"redis\"\nredis.servers = [\"" + socket +
         "\"]\nredis.prefix = \"" + prefix + "\"\nredis.timeout_ms = 300\ndomains.local = [\"example.org\"]\n";
}

template <class F>
bool eventually(F ok, std::chrono::seconds within = std::chrono::seconds(15)) {
  const auto end = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < end) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The milter threads' own Redis connections come on top of the pool's
// usual ones, never in their place.
TEST(State, RedisLoopConnectionsFollowTheMilterThreads) {
  EXPECT_EQ(redis_loop_connections(parse("milter.threads = 4\n")), 4u);
  EXPECT_EQ(redis_loop_connections(parse("milter.threads = 256\n")),
            store::kMaxRedisConnections - store::kDefaultRedisConnections);
  EXPECT_GE(redis_loop_connections(parse("")), 1u);  // one per core
}

TEST(State, LmdbAndMemoryBackends) {
  TempDir dir;
  auto lmdb = open_state(parse("state.dir = \"" + dir.path() + "/s\"\n"), {}, StateScope::kWithSoft);
  ASSERT_TRUE(lmdb) << lmdb.error().to_string();
  EXPECT_TRUE(lmdb->main && lmdb->counters && lmdb->facts);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/s/counters/data.mdb"));
  lmdb = {};
  auto main_only = open_main_store(parse("state.dir = \"" + dir.path() + "/s\"\n"));
  ASSERT_TRUE(main_only) << main_only.error().to_string();

  auto mem = open_state(parse("state.backend = \"memory\"\n"), {}, StateScope::kWithSoft);
  ASSERT_TRUE(mem);
  EXPECT_TRUE(mem->main && !mem->counters && !mem->facts) << "soft state shares the memory store";
  EXPECT_EQ(describe_state(parse("state.backend = \"memory\"\n")), "memory");
}

TEST(State, RedisOptionsComeFromTheRedisKeys) {
  auto o = redis_options(parse("redis.servers = [\"10.0.0.5:6379\", \"/run/r.sock\"]\nredis.db = 3\n"
                               "redis.prefix = \"mx:\"\nredis.timeout_ms = 250\nredis.user = \"bs\"\n"
                               "redis.password = \"pw\"\n"));
  ASSERT_TRUE(o) << o.error().to_string();
  EXPECT_EQ(o->servers, (std::vector<std::string>{"10.0.0.5:6379", "/run/r.sock"}));
  EXPECT_EQ(o->db, 3);
  EXPECT_EQ(o->prefix, "mx:");
  EXPECT_EQ(o->timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(o->user, "bs");
  EXPECT_EQ(o->password, "pw");
  for (const char* bad : {"redis.sentinel_master = \"m\"\n", "redis.servers = []\n", "redis.user = \"u\"\n"}) {
    auto r = redis_options(parse(bad));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  }
  EXPECT_EQ(describe_state(parse("state.backend = \"redis\"\nredis.sentinel_master = \"m\"\n")),
            "redis sentinel m (prefix backstop:)");
}

TEST(State, UnreachableRedisIsUnavailableNamingIt) {
  TempDir dir;
  auto s = open_state(parse(redis_config(dir.path(), dir.path() + "/none.sock", "x:")), {}, StateScope::kMain);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kUnavailable);
  EXPECT_NE(s.error().message().find("none.sock"), std::string::npos) << s.error().message();
}

class RedisEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    if (store::testing::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(server_.start()) << server_.error();
  }
  std::string raw(const std::vector<std::string>& args) { return store::testing::redis_command(server_.socket(), args); }
  RedisServer server_;
  TempDir dir_;
};

TEST_F(RedisEngine, SoftStateLivesUnderItsOwnPrefixes) {
  auto e = Engine::create(parse(redis_config(dir_.path() + "/state", server_.socket(), "eng:")));
  ASSERT_TRUE(e) << e.error().to_string();
  Engine& eng = **e;
  EXPECT_NE(&eng.counters(), &eng.store());
  EXPECT_NE(&eng.facts(), &eng.store());
  ASSERT_TRUE(eng.counters().counter_add("x", 1, 0));
  ASSERT_TRUE(eng.facts().record_put("f", "v", 0));
  ASSERT_TRUE(eng.store().record_put("m", "v", 0));
  EXPECT_EQ(raw({"EXISTS", "eng:counters:n:x"}), "1");
  EXPECT_EQ(raw({"EXISTS", "eng:facts:r:f"}), "1");
  EXPECT_EQ(raw({"EXISTS", "eng:r:m"}), "1");
  EXPECT_EQ(raw({"EXISTS", "eng:r:serve:first_start"}), "1") << "the first start is the cluster's";
  // No event loop waits on Redis: inbound mail is judged on the judge worker.
  ASSERT_NE(eng.judge_worker(), nullptr);
}

// redis.soft_servers: the counters and facts live on another server, the
// state (ledger, records) stays where it was.
TEST_F(RedisEngine, SoftStateOnItsOwnServers) {
  RedisServer soft;
  ASSERT_TRUE(soft.start()) << soft.error();
  auto e = Engine::create(parse(redis_config(dir_.path() + "/state", server_.socket(), "so:") +
                                "redis.soft_servers = [\"" + soft.socket() + "\"]\n"));
  ASSERT_TRUE(e) << e.error().to_string();
  Engine& eng = **e;
  ASSERT_TRUE(eng.counters().counter_add("x", 1, 0));
  ASSERT_TRUE(eng.facts().record_put("f", "v", 0));
  ASSERT_TRUE(eng.store().record_put("m", "v", 0));
  auto on_soft = [&](const std::vector<std::string>& args) { return store::testing::redis_command(soft.socket(), args); };
  EXPECT_EQ(on_soft({"EXISTS", "so:counters:n:x"}), "1");
  EXPECT_EQ(on_soft({"EXISTS", "so:facts:r:f"}), "1");
  EXPECT_EQ(on_soft({"EXISTS", "so:r:m"}), "0");
  EXPECT_EQ(raw({"EXISTS", "so:counters:n:x"}), "0");
  EXPECT_EQ(raw({"EXISTS", "so:facts:r:f"}), "0");
  EXPECT_EQ(raw({"EXISTS", "so:r:m"}), "1");
  // The soft server gone: limits and facts fail (4xx for what needs them),
  // the state still answers.
  soft.kill_now();
  EXPECT_FALSE(eng.counters().counter_add("x", 1, 0));
  EXPECT_TRUE(eng.store().record_get("m"));
}

TEST_F(RedisEngine, HealthzFollowsTheServer) {
  auto e = Engine::create(parse(redis_config(dir_.path() + "/state", server_.socket(), "hz:")));
  ASSERT_TRUE(e) << e.error().to_string();
  Engine& eng = **e;
  EXPECT_TRUE(eng.healthy());
  server_.kill_now();
  const auto t = std::chrono::steady_clock::now();
  EXPECT_FALSE(eng.healthy());
  EXPECT_LT(std::chrono::steady_clock::now() - t, std::chrono::seconds(3)) << "bounded by redis.timeout_ms";
  EXPECT_FALSE(eng.healthy()) << "still down";
  ASSERT_TRUE(server_.start()) << server_.error();
  EXPECT_TRUE(eventually([&] { return eng.healthy(); })) << "healthy again once Redis is back";
}

}  // namespace
}  // namespace backstop::daemon
