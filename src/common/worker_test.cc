#include "common/worker.h"

#include <atomic>
#include <future>
#include <latch>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

namespace backstop::common {
namespace {

TEST(Worker, RunsTasksInTheOrderPostedOnItsOwnThread) {
  Worker w("test-worker");
  std::vector<int> seen;
  std::promise<std::thread::id> id;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(w.post([&seen, i] { seen.push_back(i); }));
  ASSERT_TRUE(w.post([&id] { id.set_value(std::this_thread::get_id()); }));
  auto f = id.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_NE(f.get(), std::this_thread::get_id());
  w.stop();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_EQ(w.stats().run, 101u);
}

TEST(Worker, RefusesWhenTheQueueIsFullAndAfterStop) {
  Worker w("test-worker", 2);
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::promise<void> started;
  ASSERT_TRUE(w.post([&started, gate] {
    started.set_value();
    gate.wait();
  }));
  started.get_future().wait();  // the first task holds the thread; two may wait
  EXPECT_TRUE(w.post([] {}));
  EXPECT_TRUE(w.post([] {}));
  EXPECT_FALSE(w.post([] {}));
  release.set_value();
  w.stop();
  EXPECT_FALSE(w.post([] {}));
  auto s = w.stats();
  EXPECT_EQ(s.run, 3u);
  EXPECT_EQ(s.refused, 2u);
}

TEST(Worker, StopRunsWhatIsQueued) {
  std::atomic<int> n{0};
  {
    Worker w("test-worker");
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(w.post([&n] { ++n; }));
  }  // the destructor stops
  EXPECT_EQ(n.load(), 1000);
}

TEST(Worker, AnExceptionInATaskIsCountedAndTheWorkerGoesOn) {
  Worker w("test-worker");
  ASSERT_TRUE(w.post([] { throw std::runtime_error("boom"); }));
  std::promise<void> after;
  ASSERT_TRUE(w.post([&after] { after.set_value(); }));
  EXPECT_EQ(after.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  w.stop();
  EXPECT_EQ(w.stats().exceptions, 1u);
  EXPECT_EQ(w.stats().run, 2u);
}

TEST(Worker, SeveralThreadsRunTasksAtOnce) {
  Worker w("test-pool", kMaxQueuedTasks, 4);
  // Four tasks that each wait for all four to have started: they finish
  // only if four threads run them at once.
  std::latch all_started(4);
  std::atomic<int> done{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(w.post([&] {
      {
        std::lock_guard lock(mu);
        ids.insert(std::this_thread::get_id());
      }
      all_started.count_down();
      all_started.wait();
      ++done;
    }));
  }
  w.stop();
  EXPECT_EQ(done.load(), 4);
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(w.stats().run, 4u);
}

}  // namespace
}  // namespace backstop::common
