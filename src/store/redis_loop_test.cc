// The loop reads (redis_loop.h) against real redis-server processes: the
// same answers as Store::read_batch, one round trip per batch on the loop's
// own connection (no worker once connected), pipelining, and the faults: a
// killed server hands the reads to the worker (kUnavailable, never a hang)
// and the loop reconnects by itself; a stalled server answers "timed out"
// within the timeout. Skipped without redis-server.
#include <gtest/gtest.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/worker.h"
#include "store/redis_loop.h"
#include "store/redis_store.h"
#include "store/redis_test_util.h"
#include "store/store.h"

namespace backstop::store {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr std::int64_t kT0 = 1'700'000'000;
constexpr milliseconds kShortTimeout{300};
constexpr milliseconds kTestTimeout{5000};
// A read against a dead or stalled server: the timeout, a hand-over to the
// worker and its own bounded attempt (slack for sanitizers).
constexpr milliseconds kFailWithin = 4 * kShortTimeout + milliseconds(1500);
constexpr auto kRecoverWithin = std::chrono::seconds(15);

// A loop (this thread's), a worker that counts the tasks handed to it, and
// the loop reads of `store`.
struct Loop {
  asio::io_context io;
  common::Worker worker{"t-offload", 1024, 2};
  std::atomic<int> offloaded{0};
  std::unique_ptr<RedisLoopReads> reads;

  explicit Loop(Store& store) {
    reads = make_redis_loop_reads(store, io, [this](std::function<void()> task) {
      offloaded.fetch_add(1);
      return worker.post(std::move(task));
    });
  }
  ~Loop() {
    reads.reset();
    worker.stop();
  }

  // Starts `batch` and runs the loop until its answer, at most `within`.
  std::optional<Result<ReadBatchResult>> read(const ReadBatch& batch, milliseconds within = kTestTimeout) {
    auto answer = std::make_shared<std::optional<Result<ReadBatchResult>>>();
    auto got = std::make_shared<std::atomic<bool>>(false);
    reads->start(batch, [answer, got](Result<ReadBatchResult> r) {
      *answer = std::move(r);
      got->store(true);
    });
    run_until([&] { return got->load(); }, within);
    if (!got->load()) return std::nullopt;
    return std::move(*answer);
  }

  // Runs the loop for `d` (replies, connections handed back).
  void settle(milliseconds d) {
    run_until([] { return false; }, d);
  }

  // Reads until one succeeds, at most kRecoverWithin: the server is back.
  bool served_again(const ReadBatch& batch) {
    const auto end = SteadyClock::now() + kRecoverWithin;
    while (SteadyClock::now() < end) {
      auto r = read(batch);
      if (r.has_value() && r->has_value()) return true;
      settle(milliseconds(50));
    }
    return false;
  }

  template <class F>
  void run_until(F ok, milliseconds within) {
    const auto end = SteadyClock::now() + within;
    while (!ok() && SteadyClock::now() < end) {
      io.restart();
      io.run_for(milliseconds(5));
    }
  }
};

class RedisLoop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(server_.start()) << server_.error();
  }
  std::unique_ptr<Store> open(milliseconds timeout, RemoteObserver* seen = nullptr) {
    auto s = open_redis_store({.servers = {server_.socket()}, .prefix = "lp:", .timeout = timeout},
                              {.clock = &clock_, .remote_observer = seen});
    EXPECT_TRUE(s) << s.error().to_string();
    return s ? std::move(*s) : nullptr;
  }
  // A bounce's reads: two ids (one in the ledger), the first time, two
  // finds (the recipient's names an entry: a second round trip) and a
  // correspondent.
  static ReadBatch bounce_batch() {
    ReadBatch b;
    b.ledger_ids = {"m1@x", "nope@x"};
    b.ledger_first_time = true;
    b.correspondents = {{"alice@example.org", "bob@example.net"}, {"alice@example.org", "eve@example.net"}};
    b.ledger_finds = {{LedgerKey::kRecipient, "carol@example.net", kT0 - 100, kT0 + 100},
                      {LedgerKey::kEnvid, "env-unknown", kT0 - 100, kT0 + 100}};
    return b;
  }
  void fill(Store& s) {
    ASSERT_TRUE(s.ledger_put("m1@x", {.time = kT0, .sender = "alice@example.org", .recipients = {"dave@example.net"}}));
    ASSERT_TRUE(s.ledger_put("m2@x", {.time = kT0 - 10, .sender = "alice@example.org",
                                      .recipients = {"carol@example.net"}, .envid = "e2"}));
    ASSERT_TRUE(s.correspondent_record("alice@example.org", "bob@example.net", kT0));
  }

  ManualClock clock_{kT0};
  testing::RedisServer server_;
};

struct Counting : RemoteObserver {
  std::atomic<int> trips{0}, failed{0};
  std::atomic<std::size_t> commands{0};
  void round_trip(std::size_t n, double, Result r) noexcept override {
    trips.fetch_add(1);
    commands.fetch_add(n);
    if (r == Result::kFailed) failed.fetch_add(1);
  }
  void connect_attempt(bool) noexcept override {}
};

void expect_same(const ReadBatchResult& a, const ReadBatchResult& b) {
  ASSERT_EQ(a.ledger.size(), b.ledger.size());
  for (std::size_t i = 0; i < a.ledger.size(); ++i) EXPECT_EQ(a.ledger[i], b.ledger[i]) << i;
  EXPECT_EQ(a.first_time, b.first_time);
  EXPECT_EQ(a.correspondents, b.correspondents);
  ASSERT_EQ(a.finds.size(), b.finds.size());
  for (std::size_t i = 0; i < a.finds.size(); ++i) {
    ASSERT_EQ(a.finds[i].size(), b.finds[i].size()) << i;
    for (std::size_t j = 0; j < a.finds[i].size(); ++j) {
      EXPECT_EQ(a.finds[i][j].message_id, b.finds[i][j].message_id);
      EXPECT_EQ(a.finds[i][j].entry, b.finds[i][j].entry);
    }
  }
}

TEST(RedisLoopFactory, NullForOtherStores) {
  asio::io_context io;
  auto mem = make_memory_store();
  EXPECT_EQ(make_redis_loop_reads(*mem, io, {}), nullptr);
}

TEST_F(RedisLoop, SameAnswersAsReadBatchAndNoWorkerOnceConnected) {
  Counting seen;
  auto s = open(kTestTimeout, &seen);
  ASSERT_NE(s, nullptr);
  fill(*s);
  const ReadBatch batch = bounce_batch();
  auto sync = s->read_batch(batch);
  ASSERT_TRUE(sync) << sync.error().to_string();
  ASSERT_EQ(sync->finds[0].size(), 1u);
  EXPECT_EQ(sync->finds[0][0].message_id, "m2@x");
  EXPECT_TRUE(sync->ledger[0].has_value());
  EXPECT_EQ(sync->correspondents[0], std::optional<std::int64_t>(kT0));

  Loop loop(*s);
  ASSERT_NE(loop.reads, nullptr);
  // The first read finds no connection: the worker reads it, and the loop
  // takes a connection from the pool meanwhile.
  auto first = loop.read(batch);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(*first) << first->error().to_string();
  expect_same(**first, *sync);
  loop.settle(milliseconds(50));
  const int handed = loop.offloaded.load();
  EXPECT_GE(handed, 2);  // the read and the connection
  // From then on the loop reads on its own connection: two round trips
  // (the index range names an entry), the same answer, no worker.
  for (int i = 0; i < 20; ++i) {
    const int trips = seen.trips.load();
    auto r = loop.read(batch);
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(*r) << r->error().to_string();
    expect_same(**r, *sync);
    EXPECT_EQ(seen.trips.load() - trips, 2);
  }
  EXPECT_EQ(loop.offloaded.load(), handed);
  // Without an entry named by an index: one round trip.
  ReadBatch one = batch;
  one.ledger_finds = {{LedgerKey::kRecipient, "nobody@example.net", kT0 - 100, kT0 + 100}};
  const int trips = seen.trips.load();
  auto r = loop.read(one);
  ASSERT_TRUE(r.has_value() && *r);
  EXPECT_EQ(seen.trips.load() - trips, 1);
  EXPECT_EQ(seen.failed.load(), 0);
}

TEST_F(RedisLoop, ManyReadsPipelinedOnOneConnection) {
  auto s = open(kTestTimeout);
  ASSERT_NE(s, nullptr);
  fill(*s);
  Loop loop(*s);
  ASSERT_TRUE(loop.read(bounce_batch()).value());  // connects
  loop.settle(milliseconds(50));
  const int handed = loop.offloaded.load();
  constexpr int kReads = 300;
  std::atomic<int> ok{0}, done{0};
  for (int i = 0; i < kReads; ++i) {
    ReadBatch b = bounce_batch();
    b.ledger_ids = {i % 2 ? "m1@x" : "m2@x"};
    const bool expect_found = true;
    loop.reads->start(std::move(b), [&, expect_found](Result<ReadBatchResult> r) {
      done.fetch_add(1);
      if (r && r->ledger.size() == 1 && r->ledger[0].has_value() == expect_found && r->finds[0].size() == 1) {
        ok.fetch_add(1);
      }
    });
  }
  loop.run_until([&] { return done.load() == kReads; }, kTestTimeout);
  EXPECT_EQ(done.load(), kReads);
  EXPECT_EQ(ok.load(), kReads);
  EXPECT_EQ(loop.offloaded.load(), handed);
}

TEST_F(RedisLoop, RefusedBatchIsAnErrorNotAHang) {
  auto s = open(kTestTimeout);
  ASSERT_NE(s, nullptr);
  Loop loop(*s);
  ReadBatch b;
  for (std::size_t i = 0; i <= kMaxBatchReads; ++i) b.ledger_ids.push_back("id" + std::to_string(i) + "@x");
  auto r = loop.read(b);
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().code(), Code::kInvalidArgument);
  // Nothing to read: answered at once with nothing.
  auto none = loop.read(ReadBatch{});
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(*none);
}

TEST_F(RedisLoop, KilledServerIsUnavailableThenTheLoopReconnects) {
  Counting seen;
  auto s = open(kShortTimeout, &seen);
  ASSERT_NE(s, nullptr);
  fill(*s);
  Loop loop(*s);
  ASSERT_TRUE(loop.read(bounce_batch()).value());
  loop.settle(milliseconds(50));
  ASSERT_TRUE(loop.read(bounce_batch()).value());
  server_.kill_now();
  // The connection's end is noticed by the read; the worker then finds no
  // server: kUnavailable, within the bound, never a hang.
  for (int i = 0; i < 3; ++i) {
    const auto t = SteadyClock::now();
    auto r = loop.read(bounce_batch(), kFailWithin + milliseconds(2000));
    ASSERT_TRUE(r.has_value()) << "no answer from a dead server";
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->error().code(), Code::kUnavailable);
    EXPECT_LT(SteadyClock::now() - t, kFailWithin);
  }
  // Back on the same socket (append-only off: the data is gone, the reads
  // still answer): the loop recovers without being rebuilt and reads on
  // its own connection again.
  ASSERT_TRUE(server_.start()) << server_.error();
  ASSERT_TRUE(loop.served_again(bounce_batch()));
  bool on_loop = false;
  for (int i = 0; i < 100 && !on_loop; ++i) {
    const int handed = loop.offloaded.load();
    auto r = loop.read(bounce_batch());
    ASSERT_TRUE(r.has_value());
    on_loop = *r && loop.offloaded.load() == handed;
    loop.settle(milliseconds(20));
  }
  EXPECT_TRUE(on_loop) << "the loop did not take a connection again";
}

TEST_F(RedisLoop, StalledServerTimesOut) {
  auto s = open(kShortTimeout);
  ASSERT_NE(s, nullptr);
  fill(*s);
  Loop loop(*s);
  ASSERT_TRUE(loop.read(bounce_batch()).value());
  loop.settle(milliseconds(50));
  server_.pause();
  const auto t = SteadyClock::now();
  auto r = loop.read(bounce_batch(), kFailWithin + milliseconds(2000));
  const auto took = SteadyClock::now() - t;
  server_.resume();
  ASSERT_TRUE(r.has_value()) << "no answer from a stalled server";
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().code(), Code::kUnavailable);
  EXPECT_NE(r->error().message().find("timed out"), std::string::npos) << r->error().message();
  EXPECT_GE(took, kShortTimeout - milliseconds(20));
  EXPECT_LT(took, kFailWithin);
  // Served again once the server runs.
  EXPECT_TRUE(loop.served_again(bounce_batch()));
}

// A connected loop has a read standing on its connection, which is work
// for the loop: quiesce() gives the connection back so that the loop runs
// out of work (a server's stop), and a later read connects again.
TEST_F(RedisLoop, QuiesceLetsTheLoopRunOutOfWorkAndReadsConnectAgain) {
  auto s = open(kTestTimeout);
  ASSERT_NE(s, nullptr);
  fill(*s);
  Loop loop(*s);
  ASSERT_TRUE(loop.read(bounce_batch()).value());
  loop.settle(milliseconds(50));
  const int handed = loop.offloaded.load();
  ASSERT_TRUE(loop.read(bounce_batch()).value());
  ASSERT_EQ(loop.offloaded.load(), handed) << "not read on the loop's own connection";
  // Connected and idle: the standing read keeps the loop running.
  loop.io.restart();
  loop.io.run_for(milliseconds(100));
  EXPECT_FALSE(loop.io.stopped());
  loop.reads->quiesce();
  loop.io.restart();
  loop.io.run_for(milliseconds(3000));
  EXPECT_TRUE(loop.io.stopped()) << "work left on the loop after quiesce()";
  EXPECT_TRUE(loop.served_again(bounce_batch()));
}

TEST_F(RedisLoop, DestroyedWithReadsInFlightAnswersEachOnce) {
  auto s = open(kTestTimeout);
  ASSERT_NE(s, nullptr);
  fill(*s);
  auto loop = std::make_unique<Loop>(*s);
  ASSERT_TRUE(loop->read(bounce_batch()).value());
  loop->settle(milliseconds(50));
  auto calls = std::make_shared<std::atomic<int>>(0);
  constexpr int kReads = 20;
  for (int i = 0; i < kReads; ++i) {
    loop->reads->start(bounce_batch(), [calls](Result<ReadBatchResult>) { calls->fetch_add(1); });
  }
  loop->reads.reset();  // handed to the worker, which answers them
  loop->worker.stop();  // runs what it holds, then stops
  EXPECT_EQ(calls->load(), kReads);
  loop.reset();
  EXPECT_EQ(calls->load(), kReads);
}

}  // namespace
}  // namespace backstop::store
