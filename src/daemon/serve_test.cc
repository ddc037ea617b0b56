#include "daemon/serve.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <deque>
#include <string>
#include <vector>

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

}  // namespace
}  // namespace backstop::daemon
