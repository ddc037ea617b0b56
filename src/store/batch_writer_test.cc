#include "store/batch_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "store/fault_store.h"
#include "store/test_util.h"

namespace backstop::store {
namespace {

TEST(BatchWriter, AppliesEverythingFromManyThreadsInFewBatches) {
  testing::TempDir dir;
  auto store = open_lmdb_store({.dir = dir.path(), .sync = false});
  ASSERT_TRUE(store) << store.error().to_string();
  BatchWriter writer(**store);
  constexpr int kThreads = 8, kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "<" + std::to_string(t) + "." + std::to_string(i) + "@x>";
        ASSERT_TRUE(writer.enqueue(LedgerPut{id, {1'900'000'000, "a@b", {"c@d"}}}));
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(writer.flush());
  auto stats = writer.stats();
  EXPECT_EQ(stats.applied, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_LT(stats.batches, stats.applied) << "writes must be grouped into transactions";
  EXPECT_TRUE((*store)->ledger_get("<7.499@x>")->has_value());
  EXPECT_TRUE((*store)->ledger_get("<0.0@x>")->has_value());
}

TEST(BatchWriter, RefusesInvalidOpsWithoutPoisoningTheBatch) {
  auto store = make_memory_store();
  BatchWriter writer(*store);
  EXPECT_FALSE(writer.enqueue(ListingHit{"not-an-ip", {"bounce", "", 1}}));
  EXPECT_TRUE(writer.enqueue(RecordPut{"k", "v", 0}));
  ASSERT_TRUE(writer.flush());
  EXPECT_EQ(**store->record_get("k"), "v");
  EXPECT_EQ(writer.stats().refused, 1u);
}

// A transient failure is retried: the op commits and its callback says so.
TEST(BatchWriter, RetriesATransientFailureAndReportsEachAttempt) {
  FaultStore store(make_memory_store());
  std::atomic<int> hook_calls{0}, retrying_calls{0};
  BatchWriter writer(store, std::chrono::milliseconds{0}, "bs-test", [&](const Error&, std::size_t ops, bool retrying) {
    EXPECT_EQ(ops, 1u);
    ++hook_calls;
    retrying_calls += retrying;
  });
  store.fail_writes(2);
  std::promise<Status> done;
  ASSERT_TRUE(writer.enqueue(LedgerPut{"a@x", {1'900'000'000, "a@b", {"c@d"}}},
                             [&](const Status& s) { done.set_value(s); }));
  EXPECT_TRUE(done.get_future().get());
  EXPECT_TRUE(store.ledger_get("a@x")->has_value());
  EXPECT_EQ(hook_calls.load(), 2);
  EXPECT_EQ(retrying_calls.load(), 2);
  EXPECT_TRUE(writer.healthy());  // committed since
  EXPECT_EQ(writer.stats().attempts_failed, 2u);
  EXPECT_EQ(writer.stats().failed, 0u);
}

// A lasting failure: every callback of the batch gets the error (so the
// caller can answer 4xx instead of acknowledging), the writer is unhealthy
// until a later batch commits, and nothing is half-written.
TEST(BatchWriter, ALastingFailureReachesEveryCallbackAndRecovers) {
  FaultStore store(make_memory_store());
  std::atomic<int> final_failures{0};
  BatchWriter writer(store, std::chrono::milliseconds{0}, "bs-test", [&](const Error&, std::size_t, bool retrying) {
    final_failures += !retrying;
  });
  store.fail_writes(-1, Code::kEnvironment);
  constexpr int kOps = 20;
  std::atomic<int> errors{0}, oks{0};
  for (int i = 0; i < kOps; ++i) {
    ASSERT_TRUE(writer.enqueue(RecordPut{"k" + std::to_string(i), "v", 0}, [&](const Status& s) {
      (s ? oks : errors)++;
    }));
  }
  EXPECT_FALSE(writer.flush());
  EXPECT_EQ(errors.load(), kOps);
  EXPECT_EQ(oks.load(), 0);
  EXPECT_GE(final_failures.load(), 1);
  EXPECT_FALSE(writer.healthy());
  EXPECT_FALSE(store.inner().record_get("k0")->has_value());
  store.disarm();
  std::promise<Status> done;
  ASSERT_TRUE(writer.enqueue(RecordPut{"again", "v", 0}, [&](const Status& s) { done.set_value(s); }));
  EXPECT_TRUE(done.get_future().get());
  EXPECT_TRUE(writer.healthy());
  EXPECT_EQ(writer.stats().failed, static_cast<std::uint64_t>(kOps));
}

// Callbacks are never called for a refused op.
TEST(BatchWriter, RefusedOpsHaveNoCallback) {
  auto store = make_memory_store();
  BatchWriter writer(*store);
  bool called = false;
  EXPECT_FALSE(writer.enqueue(ListingHit{"not-an-ip", {"bounce", "", 1}}, [&](const Status&) { called = true; }));
  ASSERT_TRUE(writer.flush());
  EXPECT_FALSE(called);
}

TEST(BatchWriter, DestructorFlushes) {
  auto store = make_memory_store();
  {
    BatchWriter writer(*store);
    for (int i = 0; i < 100; ++i) writer.enqueue(RecordPut{"k" + std::to_string(i), "v", 0});
  }
  EXPECT_TRUE(store->record_get("k99")->has_value());
}

// A linger gathers a trickle of writes into one transaction, and neither
// flush() nor the destructor waits it out.
TEST(BatchWriter, LingerBatchesATrickleAndFlushEndsIt) {
  auto store = make_memory_store();
  const auto t0 = std::chrono::steady_clock::now();
  {
    BatchWriter writer(*store, std::chrono::seconds(30));
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(writer.enqueue(RecordPut{"k" + std::to_string(i), "v", 0}));
    ASSERT_TRUE(writer.flush());
    EXPECT_EQ(writer.stats().batches, 1u);
    EXPECT_EQ(writer.stats().applied, 50u);
    EXPECT_TRUE(store->record_get("k49")->has_value());
    ASSERT_TRUE(writer.enqueue(RecordPut{"last", "v", 0}));
  }  // the destructor ends the second linger too
  EXPECT_TRUE(store->record_get("last")->has_value());
  // Far below the 2 x 30 s the lingers would take if they were waited out.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(25));
}

TEST(BatchWriter, LingerEndsWhenABatchIsFull) {
  auto store = make_memory_store();
  BatchWriter writer(*store, std::chrono::seconds(30));
  for (std::size_t i = 0; i < kMaxBatchOps; ++i) {
    ASSERT_TRUE(writer.enqueue(RecordPut{"k" + std::to_string(i), "v", 0}));
  }
  // No flush: the full batch alone must end the linger.
  for (int i = 0; i < 2000 && writer.stats().applied < kMaxBatchOps; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(writer.stats().applied, kMaxBatchOps);
}

}  // namespace
}  // namespace backstop::store
