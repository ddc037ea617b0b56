#include "daemon/serve.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/engine.h"
#include "store/store.h"

namespace backstop::daemon {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using TimePoint = std::chrono::steady_clock::time_point;

// A main loop driven by a script: each wake-up takes the next (signal, time
// passed) step and records what the loop did.
struct Script {
  struct Step {
    int signal;          // 0: the wait timed out
    milliseconds waited;  // time passed during the wait
  };
  std::deque<Step> steps;
  TimePoint clock{};
  std::vector<std::string> calls;
  std::vector<milliseconds> timeouts;

  MainLoop loop() {
    MainLoop l;
    l.wait = [this](milliseconds timeout) {
      timeouts.push_back(timeout);
      if (steps.empty()) return SIGTERM;  // a broken script still ends
      Step s = steps.front();
      steps.pop_front();
      clock += s.waited;
      return s.signal;
    };
    l.now = [this] { return clock; };
    l.wake = milliseconds(1000);
    l.purge_interval = minutes(60);
    l.flush = [this] { calls.push_back("flush"); };
    l.reload = [this] { calls.push_back("reload"); };
    l.purge = [this] { calls.push_back("purge"); };
    return l;
  }
};

TEST(MainLoop, ReloadsOnSighupAndStopsOnSigterm) {
  Script s;
  s.steps = {{0, milliseconds(1000)}, {SIGHUP, milliseconds(10)}, {SIGTERM, milliseconds(10)}};
  EXPECT_EQ(run_main_loop(s.loop()), SIGTERM);
  EXPECT_EQ(s.calls, (std::vector<std::string>{"flush", "flush", "reload", "flush"}));
  EXPECT_TRUE(s.steps.empty());
  EXPECT_EQ(s.timeouts, (std::vector<milliseconds>(3, milliseconds(1000))));
}

TEST(MainLoop, StopsOnSigint) {
  Script s;
  s.steps = {{SIGHUP, milliseconds(1)}, {SIGHUP, milliseconds(1)}, {SIGINT, milliseconds(1)}};
  EXPECT_EQ(run_main_loop(s.loop()), SIGINT);
  EXPECT_EQ(s.calls, (std::vector<std::string>{"flush", "reload", "flush", "reload", "flush"}));
}

TEST(MainLoop, PurgesOncePerIntervalOnQuietWakeUps) {
  Script s;
  s.steps = {
      {0, minutes(59)},       // before the interval: no purge
      {0, minutes(1)},        // 60 min: purge, the next one due at 120 min
      {0, minutes(30)},       // 90 min: none
      {SIGHUP, minutes(40)},  // 130 min, but a reload wake-up does not purge
      {0, minutes(1)},        // 131 min: purge
      {SIGTERM, minutes(200)},
  };
  EXPECT_EQ(run_main_loop(s.loop()), SIGTERM);
  EXPECT_EQ(s.calls, (std::vector<std::string>{"flush", "flush", "purge", "flush", "flush", "reload", "flush",
                                               "purge", "flush"}));
}

TEST(MainLoop, OtherSignalsCountAsQuietWakeUps) {
  Script s;
  s.steps = {{SIGUSR1, minutes(61)}, {SIGTERM, milliseconds(0)}};
  EXPECT_EQ(run_main_loop(s.loop()), SIGTERM);
  EXPECT_EQ(s.calls, (std::vector<std::string>{"flush", "purge", "flush"}));
}

// The hourly purge removes trap listings trap.retention_days after they
// expired, delisted or not, and keeps the rest with their evidence.
TEST(Purge, TrapListingsGoRetentionDaysAfterTheyExpired) {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/backstop-purge-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  {
    auto cfg = config::Config::parse("state.dir = \"" + dir + "/state\"\ndomains.local = [\"example.org\"]\n"
                                     "trap.expire_days = 10\ntrap.retention_days = 30\n");
    ASSERT_TRUE(cfg) << cfg.error().to_string();
    auto e = Engine::create(*cfg);
    ASSERT_TRUE(e) << e.error().to_string();
    const std::int64_t now = (*e)->clock().now_unix();
    auto put = [&](std::string ip, std::int64_t days_ago, bool listed) {
      store::Listing l;
      l.ip = std::move(ip);
      l.hits["bounce"] = 3;
      l.first_seen = l.last_seen = now - days_ago * 86400;
      l.listed = listed;
      ASSERT_TRUE((*e)->store().listing_put(l));
    };
    put("192.0.2.1", 1, true);     // active
    put("192.0.2.2", 20, true);    // expired 10 days ago: kept
    put("192.0.2.3", 41, true);    // expired 31 days ago: purged
    put("192.0.2.4", 41, false);   // delisted, and as old: purged
    put("192.0.2.5", 39, false);   // delisted, expired 29 days ago: kept
    auto r = purge_expired(**e);
    EXPECT_TRUE(r.errors.empty()) << r.errors.front();
    EXPECT_EQ(r.listings, 2u);
    auto all = (*e)->store().listing_all();
    ASSERT_TRUE(all);
    std::vector<std::string> ips;
    for (const auto& l : *all) ips.push_back(l.ip);
    EXPECT_EQ(ips, (std::vector<std::string>{"192.0.2.1", "192.0.2.2", "192.0.2.5"}));
    EXPECT_EQ(purge_expired(**e).listings, 0u);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace backstop::daemon
