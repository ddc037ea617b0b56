// One conformance suite that every Store backend must pass (value-parameterised
// over a backend factory). Backend-specific tests live in lmdb_test.cc and
// redis_test.cc. The Redis backend runs against a private redis-server
// (redis_test_util.h), each test under a fresh key prefix; without
// redis-server installed its tests are skipped, and a server that fails to
// start fails them.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "store/redis_store.h"
#include "store/redis_test_util.h"
#include "store/store.h"
#include "store/test_util.h"

namespace backstop::store {
namespace {

constexpr std::int64_t kT0 = 1'700'000'000;

struct Backend {
  const char* name;
  std::function<std::unique_ptr<Store>(const std::string& dir, Options)> open;
  // Non-empty: why the backend cannot run on this machine (the test is skipped).
  std::function<std::string()> skip_reason = {};
};

std::unique_ptr<Store> open_memory(const std::string&, Options o) { return make_memory_store(o); }

std::unique_ptr<Store> open_lmdb(const std::string& dir, Options o) {
  // A small initial map so the suite also exercises growth on MDB_MAP_FULL.
  auto s = open_lmdb_store({.dir = dir, .map_size = 1 << 20, .sync = false}, o);
  EXPECT_TRUE(s.has_value()) << s.error().to_string();
  return s ? std::move(*s) : nullptr;
}

// Generous for sanitizer builds on a loaded machine; a healthy local server
// answers in microseconds.
constexpr std::chrono::milliseconds kRedisTestTimeout{5000};

std::string redis_skip_reason() {
  std::string why;
  bool skip = false;
  testing::shared_redis_server(&why, &skip);
  return skip ? why : "";
}

std::unique_ptr<Store> open_redis(const std::string&, Options o) {
  std::string why;
  auto* server = testing::shared_redis_server(&why, nullptr);
  EXPECT_NE(server, nullptr) << why;
  if (!server) return nullptr;
  auto s = open_redis_store({.servers = {server->socket()}, .prefix = testing::fresh_prefix(), .timeout = kRedisTestTimeout}, o);
  EXPECT_TRUE(s.has_value()) << s.error().to_string();
  return s ? std::move(*s) : nullptr;
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam().skip_reason) {
      if (auto why = GetParam().skip_reason(); !why.empty()) GTEST_SKIP() << why;
    }
    options_.clock = &clock_;
    store_ = GetParam().open(dir_.path(), options_);
    ASSERT_NE(store_, nullptr);
  }

  ManualClock clock_{kT0};
  Options options_;
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

LedgerEntry entry(std::int64_t t, std::string sender = "alice@example.com") {
  return {t, std::move(sender), {"bob@example.net", "carol@example.org"}};
}

TEST_P(StoreConformance, LedgerPutGetReplace) {
  auto absent = store_->ledger_get("<nope@example.com>");
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->has_value());

  ASSERT_TRUE(store_->ledger_put("<m1@example.com>", entry(kT0)));
  auto got = store_->ledger_get("<m1@example.com>");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ(**got, entry(kT0));

  LedgerEntry bounce{kT0 + 5, "", {"x@example.net"}};
  ASSERT_TRUE(store_->ledger_put("<m1@example.com>", bounce));
  EXPECT_EQ(**store_->ledger_get("<m1@example.com>"), bounce);
  auto recent = store_->ledger_recent(10);
  ASSERT_TRUE(recent);
  ASSERT_EQ(recent->size(), 1u) << "replacing must not leave a stale index entry";
}

TEST_P(StoreConformance, LedgerRefusesBadArguments) {
  EXPECT_EQ(store_->ledger_put("", entry(kT0)).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->ledger_put(std::string(kMaxMessageIdBytes + 1, 'x'), entry(kT0)).error().code(),
            Code::kInvalidArgument);
  LedgerEntry many{kT0, "a@b", std::vector<std::string>(kMaxLedgerRecipients + 1, "r@x")};
  EXPECT_EQ(store_->ledger_put("<m@x>", many).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->ledger_put("<m@x>", entry(kT0, std::string(300, 'a'))).error().code(),
            Code::kInvalidArgument);
}

TEST_P(StoreConformance, LedgerTtlExpiryAndPurge) {
  ASSERT_TRUE(store_->ledger_put("<old@x>", entry(kT0)));
  ASSERT_TRUE(store_->ledger_put("<new@x>", entry(kT0 + 10 * kDay)));
  clock_.advance(kDefaultLedgerTtl - 1);
  EXPECT_TRUE(store_->ledger_get("<old@x>")->has_value()) << "one second before expiry";
  clock_.advance(1);
  EXPECT_FALSE(store_->ledger_get("<old@x>")->has_value()) << "expired entries are invisible";
  EXPECT_TRUE(store_->ledger_get("<new@x>")->has_value());
  ASSERT_EQ(store_->ledger_recent(10)->size(), 1u);

  auto purged = store_->purge_expired();
  ASSERT_TRUE(purged);
  EXPECT_EQ(*purged, 1u);
  EXPECT_EQ(*store_->purge_expired(), 0u);
  EXPECT_TRUE(store_->ledger_get("<new@x>")->has_value());
  auto first = store_->ledger_first_time();
  ASSERT_TRUE(first && first->has_value());
  EXPECT_EQ(**first, kT0) << "first record time survives the purge (warm-up)";
}

TEST_P(StoreConformance, LedgerRecentNewestFirstAndFirstTime) {
  EXPECT_FALSE(store_->ledger_first_time()->has_value());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->ledger_put("<m" + std::to_string(i) + "@x>", entry(kT0 + 100 - i)));
  }
  auto recent = store_->ledger_recent(3);
  ASSERT_TRUE(recent);
  ASSERT_EQ(recent->size(), 3u);
  EXPECT_EQ((*recent)[0].message_id, "<m0@x>");
  EXPECT_EQ((*recent)[2].message_id, "<m2@x>");
  EXPECT_EQ(**store_->ledger_first_time(), kT0 + 96);
}

TEST_P(StoreConformance, Correspondents) {
  ASSERT_TRUE(store_->correspondent_record("alice@ours", "bob@ext", kT0));
  ASSERT_TRUE(store_->correspondent_record("alice@ours", "bob@ext", kT0 - 50));  // older: ignored
  ASSERT_TRUE(store_->correspondent_record("alice@ours", "carol@ext", kT0 + 10));
  ASSERT_TRUE(store_->correspondent_record("alice@ours2", "dave@ext", kT0));  // prefix of another user
  EXPECT_EQ(**store_->correspondent_last_seen("alice@ours", "bob@ext"), kT0);
  EXPECT_FALSE(store_->correspondent_last_seen("alice@ours", "dave@ext")->has_value());

  auto list = store_->correspondents("alice@ours", 10);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0], (Correspondent{"bob@ext", kT0}));
  EXPECT_EQ((*list)[1], (Correspondent{"carol@ext", kT0 + 10}));
  EXPECT_EQ(store_->correspondents("alice@ours", 1)->size(), 1u);

  clock_.advance(kDefaultCorrespondentTtl + 5);
  EXPECT_FALSE(store_->correspondent_last_seen("alice@ours", "bob@ext")->has_value());
  EXPECT_EQ(store_->correspondents("alice@ours", 10)->size(), 1u);
  EXPECT_EQ(*store_->purge_expired(), 2u);
  EXPECT_EQ(store_->correspondent_record("", "x@y", kT0).error().code(), Code::kInvalidArgument);
}

TEST_P(StoreConformance, ReadBatchAnswersAsTheSingleCalls) {
  ReadBatch empty_batch;
  auto none = store_->read_batch(empty_batch);
  ASSERT_TRUE(none) << none.error().to_string();
  EXPECT_TRUE(none->ledger.empty());
  EXPECT_FALSE(none->first_time.has_value());
  ReadBatch b{{"a@x", "missing@x"}, true, {{"alice@ours", "bob@ext"}, {"alice@ours", "nobody@ext"}}};
  auto before = store_->read_batch(b);
  ASSERT_TRUE(before) << before.error().to_string();
  ASSERT_EQ(before->ledger.size(), 2u);
  EXPECT_FALSE(before->ledger[0].has_value());
  EXPECT_FALSE(before->first_time.has_value());
  ASSERT_EQ(before->correspondents.size(), 2u);
  EXPECT_FALSE(before->correspondents[0].has_value());

  const LedgerEntry e{kT0, "alice@ours", {"bob@ext"}};
  ASSERT_TRUE(store_->ledger_put("a@x", e));
  ASSERT_TRUE(store_->correspondent_record("alice@ours", "bob@ext", kT0));
  auto after = store_->read_batch(b);
  ASSERT_TRUE(after) << after.error().to_string();
  ASSERT_EQ(after->ledger.size(), 2u);
  EXPECT_EQ(after->ledger[0], std::optional<LedgerEntry>(e));
  EXPECT_FALSE(after->ledger[1].has_value());
  EXPECT_EQ(after->first_time, std::optional<std::int64_t>(kT0));
  EXPECT_EQ(after->correspondents[0], std::optional<std::int64_t>(kT0));
  EXPECT_FALSE(after->correspondents[1].has_value());
  // Expiry is judged as by the single calls.
  clock_.advance(kDefaultLedgerTtl + 1);
  auto later = store_->read_batch(b);
  ASSERT_TRUE(later);
  EXPECT_FALSE(later->ledger[0].has_value());
  EXPECT_EQ(later->first_time, std::optional<std::int64_t>(kT0)) << "the first time outlives its entry";
  EXPECT_TRUE(later->correspondents[0].has_value());
  // Bad arguments, and too many reads.
  EXPECT_EQ(store_->read_batch({{""}, false, {}}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->read_batch({{}, false, {{"", "x@y"}}}).error().code(), Code::kInvalidArgument);
  ReadBatch big;
  big.ledger_ids.assign(kMaxBatchReads + 1, "a@x");
  EXPECT_EQ(store_->read_batch(big).error().code(), Code::kInvalidArgument);
  big.ledger_ids.resize(kMaxBatchReads);
  auto full = store_->read_batch(big);
  ASSERT_TRUE(full) << full.error().to_string();
  EXPECT_EQ(full->ledger.size(), kMaxBatchReads);
}

std::vector<std::string> ids_of(const Result<std::vector<LedgerItem>>& r) {
  std::vector<std::string> out;
  if (r) {
    for (const auto& i : *r) out.push_back(i.message_id);
  }
  return out;
}

TEST_P(StoreConformance, LedgerFindByRecipientWithinTheWindowNewestFirst) {
  using V = std::vector<std::string>;
  ASSERT_TRUE(store_->ledger_put("<a@x>", {kT0 - 100, "alice@ours", {"Bob@Example.NET", "carol@example.org"}}));
  ASSERT_TRUE(store_->ledger_put("<b@x>", {kT0, "alice@ours", {"bob@example.net"}}));
  ASSERT_TRUE(store_->ledger_put("<c@x>", {kT0 + 100, "alice@ours", {"dave@example.net"}}));
  const LedgerFind bob{LedgerKey::kRecipient, "BOB@example.net", kT0 - 100, kT0 + 100};
  EXPECT_EQ(ids_of(store_->ledger_find(bob)), (V{"<b@x>", "<a@x>"})) << "case-insensitive, newest first";
  // The window's ends are included; one second outside is not.
  EXPECT_EQ(ids_of(store_->ledger_find({LedgerKey::kRecipient, "bob@example.net", kT0 - 100, kT0 - 100})),
            V{"<a@x>"});
  EXPECT_EQ(ids_of(store_->ledger_find({LedgerKey::kRecipient, "bob@example.net", kT0 - 99, kT0 - 1})), V{});
  EXPECT_EQ(ids_of(store_->ledger_find({LedgerKey::kRecipient, "bob@example.net", kT0 + 1, kT0 + 1000})), V{});
  EXPECT_EQ(ids_of(store_->ledger_find({LedgerKey::kRecipient, "bob@example.ne", kT0 - 100, kT0 + 100})), V{})
      << "a prefix of an address is another address";
  EXPECT_EQ(ids_of(store_->ledger_find({LedgerKey::kRecipient, "alice@ours", kT0 - 100, kT0 + 100})), V{})
      << "the sender is not a recipient";
  EXPECT_EQ(ids_of(store_->ledger_find({LedgerKey::kRecipient, "bob@example.net", kT0 + 10, kT0 - 10})), V{})
      << "an empty window";
  auto found = store_->ledger_find(bob);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->front().entry, (LedgerEntry{kT0, "alice@ours", {"bob@example.net"}}));
  // A replaced entry answers for its new recipients and time only.
  ASSERT_TRUE(store_->ledger_put("<a@x>", {kT0 + 50, "alice@ours", {"erin@example.net"}}));
  EXPECT_EQ(ids_of(store_->ledger_find(bob)), V{"<b@x>"});
  EXPECT_EQ(ids_of(store_->ledger_find({LedgerKey::kRecipient, "erin@example.net", kT0, kT0 + 60})), V{"<a@x>"});
  // At most kMaxLedgerFind answers, the newest.
  for (std::size_t i = 0; i < kMaxLedgerFind + 4; ++i) {
    ASSERT_TRUE(store_->ledger_put("<many" + std::to_string(i) + "@x>",
                                   {kT0 + 1000 + static_cast<std::int64_t>(i), "alice@ours", {"list@example.net"}}));
  }
  auto many = store_->ledger_find({LedgerKey::kRecipient, "list@example.net", kT0, kT0 + 5000});
  ASSERT_TRUE(many);
  ASSERT_EQ(many->size(), kMaxLedgerFind);
  EXPECT_EQ(many->front().message_id, "<many" + std::to_string(kMaxLedgerFind + 3) + "@x>");
  // Expired entries answer no more, before and after the purge.
  clock_.advance(kDefaultLedgerTtl + 1);
  EXPECT_EQ(ids_of(store_->ledger_find(bob)), V{});
  EXPECT_EQ(store_->ledger_find({LedgerKey::kRecipient, "list@example.net", kT0, kT0 + 5000})->size(), kMaxLedgerFind)
      << "the later ones still live";
  clock_.advance(2000);
  ASSERT_TRUE(store_->purge_expired());
  EXPECT_EQ(ids_of(store_->ledger_find(bob)), V{});
  EXPECT_EQ(ids_of(store_->ledger_find({LedgerKey::kRecipient, "list@example.net", kT0, kT0 + 5000})), V{});
}

TEST_P(StoreConformance, LedgerFindByEnvidIsExact) {
  using V = std::vector<std::string>;
  ASSERT_TRUE(store_->ledger_put("<e1@x>", {kT0, "alice@ours", {"bob@example.net"}, "QID+2B7 a"}));
  ASSERT_TRUE(store_->ledger_put("<e2@x>", {kT0 + 1, "alice@ours", {"bob@example.net"}}));
  const LedgerFind q{LedgerKey::kEnvid, "QID+2B7 a", kT0 - kDay, kT0 + kDay};
  EXPECT_EQ(ids_of(store_->ledger_find(q)), V{"<e1@x>"});
  EXPECT_EQ((*store_->ledger_get("<e1@x>"))->envid, "QID+2B7 a");
  EXPECT_EQ(ids_of(store_->ledger_find({LedgerKey::kEnvid, "qid+2b7 a", kT0 - kDay, kT0 + kDay})), V{})
      << "an ENVID is compared byte for byte";
  EXPECT_EQ(ids_of(store_->ledger_find({LedgerKey::kEnvid, "bob@example.net", kT0 - kDay, kT0 + kDay})), V{})
      << "recipients and ENVIDs are separate keys";
  EXPECT_EQ(ids_of(store_->ledger_find({LedgerKey::kRecipient, "QID+2B7 a", kT0 - kDay, kT0 + kDay})), V{});
  // Replaced without an ENVID: it no longer answers.
  ASSERT_TRUE(store_->ledger_put("<e1@x>", {kT0, "alice@ours", {"bob@example.net"}}));
  EXPECT_EQ(ids_of(store_->ledger_find(q)), V{});
  // Bad arguments.
  EXPECT_EQ(store_->ledger_find({LedgerKey::kEnvid, "", 0, kT0}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->ledger_find({LedgerKey::kEnvid, std::string(kMaxEnvidBytes + 1, 'e'), 0, kT0}).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->ledger_find({LedgerKey::kRecipient, std::string(kMaxAddressBytes + 1, 'r'), 0, kT0}).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->ledger_find({LedgerKey::kRecipient, std::string("a\0b", 3), 0, kT0}).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->ledger_put("<e3@x>", {kT0, "", {}, std::string(kMaxEnvidBytes + 1, 'e')}).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->ledger_put("<e3@x>", {kT0, "", {}, std::string("a\0b", 3)}).error().code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(store_->ledger_put("<e3@x>", {kT0, "", {}, std::string(kMaxEnvidBytes, 'e')}));
}

TEST_P(StoreConformance, ReadBatchAnswersLedgerFinds) {
  ASSERT_TRUE(store_->ledger_put("<f1@x>", {kT0, "alice@ours", {"bob@example.net"}, "ENV1"}));
  ReadBatch b;
  b.ledger_ids = {"<f1@x>"};
  b.ledger_first_time = true;
  b.ledger_finds = {{LedgerKey::kRecipient, "bob@example.net", kT0 - 10, kT0 + 10},
                    {LedgerKey::kRecipient, "nobody@example.net", kT0 - 10, kT0 + 10},
                    {LedgerKey::kEnvid, "ENV1", kT0 - 10, kT0 + 10}};
  auto r = store_->read_batch(b);
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->finds.size(), 3u);
  EXPECT_EQ(ids_of(r->finds[0]), std::vector<std::string>{"<f1@x>"});
  EXPECT_TRUE(r->finds[1].empty());
  EXPECT_EQ(ids_of(r->finds[2]), std::vector<std::string>{"<f1@x>"});
  EXPECT_TRUE(r->ledger[0].has_value());
  EXPECT_EQ(r->first_time, std::optional<std::int64_t>(kT0));
  ReadBatch only_finds;
  only_finds.ledger_finds = {{LedgerKey::kEnvid, "ENV1", kT0, kT0}};
  auto o = store_->read_batch(only_finds);
  ASSERT_TRUE(o) << o.error().to_string();
  ASSERT_EQ(o->finds.size(), 1u);
  EXPECT_EQ(o->finds[0].size(), 1u);
  ReadBatch bad;
  bad.ledger_finds = {{LedgerKey::kEnvid, "", kT0, kT0}};
  EXPECT_EQ(store_->read_batch(bad).error().code(), Code::kInvalidArgument);
  ReadBatch big;
  big.ledger_finds.assign(kMaxBatchReads + 1, {LedgerKey::kEnvid, "ENV1", kT0, kT0});
  EXPECT_EQ(store_->read_batch(big).error().code(), Code::kInvalidArgument);
}

TEST_P(StoreConformance, CountersAddAndExpire) {
  EXPECT_EQ(*store_->counter_get("rl:a"), 0);
  EXPECT_EQ(*store_->counter_add("rl:a", 3, kT0 + 60), 3);
  EXPECT_EQ(*store_->counter_add("rl:a", 4, kT0 + 9999), 7) << "later calls keep the window";
  EXPECT_EQ(*store_->counter_get("rl:a"), 7);
  clock_.advance(60);
  EXPECT_EQ(*store_->counter_get("rl:a"), 0);
  EXPECT_EQ(*store_->counter_add("rl:a", 1, kT0 + 120), 1) << "a new window starts at zero";
  EXPECT_EQ(*store_->counter_add("rl:never", 2, 0), 2);
  clock_.advance(100 * kDay);
  EXPECT_EQ(*store_->counter_get("rl:never"), 2) << "expires_at 0 never expires";
  EXPECT_EQ(store_->counter_add("", 1, 0).error().code(), Code::kInvalidArgument);
}

TEST_P(StoreConformance, CounterAddIfBelowExactUnderSixteenThreads) {
  constexpr int kThreads = 16, kTriesPerThread = 40, kLimit = 100;
  std::atomic<int> admitted{0}, errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kTriesPerThread; ++j) {
        auto r = store_->counter_add_if_below("rl:exact", 1, kLimit, kT0 + 3600);
        if (!r) ++errors;
        else if (*r) ++admitted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), kLimit);
  EXPECT_EQ(*store_->counter_get("rl:exact"), kLimit);
  EXPECT_FALSE(*store_->counter_add_if_below("rl:exact", 1, kLimit, kT0 + 3600));
  EXPECT_TRUE(*store_->counter_add_if_below("rl:exact", 1, kLimit + 1, kT0 + 3600));
  EXPECT_FALSE(*store_->counter_add_if_below("rl:big", 5, 4, kT0 + 3600)) << "a delta over the limit";
}

TEST_P(StoreConformance, PurgeRemovesExpiredCountersAndRecords) {
  ASSERT_TRUE(store_->counter_add("c:short", 1, kT0 + 10));
  ASSERT_TRUE(store_->counter_add("c:never", 1, 0));
  ASSERT_TRUE(store_->record_put("r:short", "v", kT0 + 10));
  ASSERT_TRUE(store_->record_put("r:long", "v", kT0 + 1000));
  ASSERT_TRUE(store_->record_put("r:never", "v", 0));
  EXPECT_EQ(*store_->purge_expired(), 0u);
  clock_.advance(10);
  auto purged = store_->purge_expired();
  ASSERT_TRUE(purged) << purged.error().to_string();
  EXPECT_EQ(*purged, 2u);
  EXPECT_EQ(*store_->purge_expired(), 0u);
  EXPECT_EQ(*store_->counter_get("c:never"), 1);
  EXPECT_TRUE(store_->record_get("r:long")->has_value());
  EXPECT_TRUE(store_->record_get("r:never")->has_value());
  EXPECT_EQ(*store_->counter_add("c:short", 5, kT0 + 100), 5) << "a purged counter starts a new window";
}

TEST_P(StoreConformance, Records) {
  ASSERT_TRUE(store_->record_put("fact:1", std::string("\0bin\xff", 5), kT0 + 10));
  EXPECT_EQ(**store_->record_get("fact:1"), std::string("\0bin\xff", 5));
  EXPECT_FALSE(store_->record_get("fact:2")->has_value());
  clock_.advance(10);
  EXPECT_FALSE(store_->record_get("fact:1")->has_value());
  ASSERT_TRUE(store_->record_put("fact:3", "v", 0));
  ASSERT_TRUE(store_->record_erase("fact:3"));
  EXPECT_FALSE(store_->record_get("fact:3")->has_value());
  EXPECT_TRUE(store_->record_erase("fact:absent"));
  EXPECT_EQ(store_->record_put("k", std::string(kMaxRecordBytes + 1, 'x'), 0).error().code(),
            Code::kInvalidArgument);
}

TEST_P(StoreConformance, RecordsUpdateIsAtomicAcrossKeys) {
  const std::vector<std::string> keys{"u:a", "u:b"};
  auto bump = [](std::span<const std::optional<std::string>> cur) {
    std::vector<RecordChange> out;
    for (const auto& v : cur) {
      const int n = v ? std::stoi(*v) : 0;
      out.push_back({RecordChange::Op::kPut, std::to_string(n + 1), 0});
    }
    return out;
  };
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        if (!store_->records_update(keys, bump)) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(**store_->record_get("u:a"), std::to_string(kThreads * kEach));
  EXPECT_EQ(**store_->record_get("u:b"), std::to_string(kThreads * kEach));
  // Keep, erase and expiry.
  ASSERT_TRUE(store_->records_update(keys, [](std::span<const std::optional<std::string>> cur) {
    EXPECT_TRUE(cur[0] && cur[1]);
    return std::vector<RecordChange>{{RecordChange::Op::kKeep, "", 0}, {RecordChange::Op::kErase, "", 0}};
  }));
  EXPECT_TRUE(store_->record_get("u:a")->has_value());
  EXPECT_FALSE(store_->record_get("u:b")->has_value());
  ASSERT_TRUE(store_->records_update(keys, [](std::span<const std::optional<std::string>>) {
    return std::vector<RecordChange>{{RecordChange::Op::kPut, "x", kT0 + 5}, {RecordChange::Op::kKeep, "", 0}};
  }));
  clock_.advance(5);
  ASSERT_TRUE(store_->records_update(keys, [](std::span<const std::optional<std::string>> cur) {
    EXPECT_FALSE(cur[0].has_value()) << "expired records read as absent";
    return std::vector<RecordChange>(cur.size());
  }));
  // Bad calls write nothing.
  ASSERT_TRUE(store_->record_put("u:a", "7", 0));
  EXPECT_EQ(store_->records_update({}, bump).error().code(), Code::kInvalidArgument);
  std::vector<std::string> many(kMaxUpdateKeys + 1, "k");
  EXPECT_EQ(store_->records_update(many, bump).error().code(), Code::kInvalidArgument);
  auto wrong = store_->records_update(keys, [](std::span<const std::optional<std::string>>) {
    return std::vector<RecordChange>{{RecordChange::Op::kPut, "1", 0}};
  });
  EXPECT_EQ(wrong.error().code(), Code::kInvalidArgument);
  auto big = store_->records_update(keys, [](std::span<const std::optional<std::string>>) {
    return std::vector<RecordChange>{{RecordChange::Op::kPut, "1", 0},
                                     {RecordChange::Op::kPut, std::string(kMaxRecordBytes + 1, 'x'), 0}};
  });
  EXPECT_EQ(big.error().code(), Code::kInvalidArgument);
  ASSERT_TRUE(store_->record_get("u:a")->has_value());
  EXPECT_EQ(**store_->record_get("u:a"), "7") << "nothing written";
  EXPECT_FALSE(store_->record_get("u:b")->has_value()) << "nothing written";
}

TEST_P(StoreConformance, ListingsHitsAndEvidence) {
  auto l = store_->listing_hit("192.0.2.7", {"bounce", "<a@x>", kT0});
  ASSERT_TRUE(l) << l.error().to_string();
  EXPECT_TRUE(l->listed);
  EXPECT_EQ(l->first_seen, kT0);
  ASSERT_TRUE(store_->listing_hit("192.0.2.7", {"bounce", "<b@x>", kT0 + 20}));
  l = store_->listing_hit("192.0.2.7", {"autoreply", "<c@x>", kT0 + 10});  // out of order
  ASSERT_TRUE(l);
  EXPECT_EQ(l->hits.at("bounce"), 2u);
  EXPECT_EQ(l->hits.at("autoreply"), 1u);
  EXPECT_EQ(l->total_hits(), 3u);
  EXPECT_EQ(l->first_seen, kT0);
  EXPECT_EQ(l->last_seen, kT0 + 20);
  EXPECT_EQ(l->last_evidence, (Evidence{"bounce", "<b@x>", kT0 + 20}));
  EXPECT_EQ(**store_->listing_get("192.0.2.7"), *l);
  // An IPv4-mapped IPv6 client address is the same listing.
  ASSERT_TRUE(store_->listing_hit("::ffff:192.0.2.7", {"bounce", "", kT0 + 1}));
  EXPECT_EQ((*store_->listing_get("192.0.2.7"))->total_hits(), 4u);

  // IPv6 is canonicalised: two spellings are one listing.
  ASSERT_TRUE(store_->listing_hit("2001:DB8:0:0::1", {"bounce", "", kT0}));
  ASSERT_TRUE(store_->listing_hit("2001:db8::1", {"bounce", "", kT0}));
  auto v6 = store_->listing_get("2001:0db8::0001");
  ASSERT_TRUE(v6 && v6->has_value());
  EXPECT_EQ((*v6)->ip, "2001:db8::1");
  EXPECT_EQ((*v6)->total_hits(), 2u);

  EXPECT_EQ(store_->listing_hit("not-an-ip", {"bounce", "", kT0}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->listing_hit("192.0.2.8", {"", "", kT0}).error().code(), Code::kInvalidArgument);
}

TEST_P(StoreConformance, ListingsPutListRemove) {
  ASSERT_TRUE(store_->listing_hit("198.51.100.2", {"bounce", "", kT0}));
  ASSERT_TRUE(store_->listing_hit("198.51.100.1", {"bounce", "", kT0}));
  auto l = **store_->listing_get("198.51.100.2");
  l.listed = false;  // manual delisting
  ASSERT_TRUE(store_->listing_put(l));
  EXPECT_FALSE((*store_->listing_get("198.51.100.2"))->listed);
  auto all = store_->listing_all();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].ip, "198.51.100.1");
  EXPECT_TRUE(*store_->listing_remove("198.51.100.1"));
  EXPECT_FALSE(*store_->listing_remove("198.51.100.1"));
  EXPECT_EQ(store_->listing_all()->size(), 1u);
}

TEST_P(StoreConformance, Allowlist) {
  ASSERT_TRUE(store_->allowlist_add("203.0.113.77/24"));  // host bits are cleared
  ASSERT_TRUE(store_->allowlist_add("2001:db8:abcd::/48"));
  ASSERT_TRUE(store_->allowlist_add("192.0.2.9"));
  EXPECT_EQ(*store_->allowlist(),
            (std::vector<std::string>{"192.0.2.9/32", "2001:db8:abcd::/48", "203.0.113.0/24"}));
  EXPECT_TRUE(*store_->allowlisted("203.0.113.200"));
  EXPECT_FALSE(*store_->allowlisted("203.0.114.1"));
  EXPECT_TRUE(*store_->allowlisted("2001:db8:abcd:1::5"));
  EXPECT_FALSE(*store_->allowlisted("2001:db8:abce::5"));
  EXPECT_FALSE(*store_->allowlisted("192.0.2.10"));

  auto l = store_->listing_hit("203.0.113.5", {"bounce", "", kT0});
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->listed) << "an allowlisted IP is recorded but never listed";
  EXPECT_TRUE(*store_->allowlist_remove("203.0.113.0/24"));
  EXPECT_FALSE(*store_->allowlist_remove("203.0.113.0/24"));
  EXPECT_TRUE(store_->listing_hit("203.0.113.5", {"bounce", "", kT0})->listed);
  EXPECT_EQ(store_->allowlist_add("10.0.0.0/33").error().code(), Code::kInvalidArgument);
}

TEST_P(StoreConformance, ApplyBatchIsAtomicAndValidated) {
  std::vector<WriteOp> ops = {
      LedgerPut{"<b1@x>", entry(kT0)},
      CorrespondentSeen{"alice@ours", "bob@ext", kT0},
      RecordPut{"fact", "v", 0},
      ListingHit{"192.0.2.1", {"bounce", "<t@x>", kT0}},
      RecordErase{"fact"},
  };
  ASSERT_TRUE(store_->apply(ops));
  EXPECT_TRUE(store_->ledger_get("<b1@x>")->has_value());
  EXPECT_TRUE(store_->correspondent_last_seen("alice@ours", "bob@ext")->has_value());
  EXPECT_FALSE(store_->record_get("fact")->has_value());
  EXPECT_EQ((*store_->listing_get("192.0.2.1"))->total_hits(), 1u);

  std::vector<WriteOp> bad = {LedgerPut{"<b2@x>", entry(kT0)}, ListingHit{"nope", {"bounce", "", kT0}}};
  EXPECT_EQ(store_->apply(bad).error().code(), Code::kInvalidArgument);
  EXPECT_FALSE(store_->ledger_get("<b2@x>")->has_value()) << "nothing of a refused batch is applied";
}

TEST_P(StoreConformance, ManyEntriesGrowBeyondInitialSize) {
  // LMDB starts with a 1 MiB map here: this needs several growths.
  std::vector<WriteOp> ops;
  for (int i = 0; i < 20000; ++i) {
    ops.push_back(LedgerPut{"<bulk" + std::to_string(i) + "@example.com>", entry(kT0 + i)});
  }
  auto s = store_->apply(ops);
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_TRUE(store_->ledger_get("<bulk19999@example.com>")->has_value());
  EXPECT_EQ(store_->ledger_recent(50000)->size(), 20000u);
}

// An ExportItem as one comparable line.
std::string describe(const ExportItem& item) {
  auto e = [](const LedgerEntry& x) {
    std::string s = std::to_string(x.time) + " <" + x.sender + ">";
    for (const auto& r : x.recipients) s += " " + r;
    if (!x.envid.empty()) s += " envid=" + x.envid;
    return s;
  };
  if (auto* p = std::get_if<LedgerPut>(&item)) return "ledger " + p->message_id + " " + e(p->entry);
  if (auto* f = std::get_if<LedgerFirstTime>(&item)) return "first " + std::to_string(f->time);
  if (auto* c = std::get_if<CorrespondentSeen>(&item)) {
    return "corr " + c->local + " " + c->external + " " + std::to_string(c->time);
  }
  if (auto* n = std::get_if<CounterPut>(&item)) {
    return "counter " + n->key + " " + std::to_string(n->value) + " " + std::to_string(n->expires_at);
  }
  if (auto* r = std::get_if<RecordPut>(&item)) return "record " + r->key + " " + r->value + " " + std::to_string(r->expires_at);
  if (auto* l = std::get_if<ListingPut>(&item)) {
    std::string s = "listing " + l->listing.ip + (l->listing.listed ? " listed" : " delisted");
    for (const auto& [k, n] : l->listing.hits) s += " " + k + "=" + std::to_string(n);
    return s + " " + std::to_string(l->listing.first_seen) + "-" + std::to_string(l->listing.last_seen) + " " +
           l->listing.last_evidence.message_id;
  }
  return "allow " + std::get<AllowlistAdd>(item).cidr;
}

// Collects a walk: items as sorted lines, damaged records as "what key: why".
struct Collect final : ExportVisitor {
  std::vector<std::string> lines;
  std::vector<WriteOp> ops;
  std::vector<std::string> damage;
  Status item(const ExportItem& item) override {
    lines.push_back(describe(item));
    std::visit([&](const auto& x) { ops.emplace_back(x); }, item);
    return {};
  }
  void damaged(std::string_view what, std::string_view key, std::string_view why) override {
    damage.push_back(std::string(what) + " " + std::string(key) + ": " + std::string(why));
  }
  std::vector<std::string> sorted() const {
    auto out = lines;
    std::sort(out.begin(), out.end());
    return out;
  }
};

// Writes one of each kind, some already expired at the export.
void fill_every_kind(Store& s) {
  ASSERT_TRUE(s.ledger_put("<old@x>", entry(kT0 - kDefaultLedgerTtl)));  // expired
  ASSERT_TRUE(s.ledger_put("<m1@x>", entry(kT0 - 100)));
  ASSERT_TRUE(s.ledger_put("<m2@x>", LedgerEntry{kT0, "", {"r@example.net"}, "env-m2"}));
  ASSERT_TRUE(s.correspondent_record("alice@ours", "bob@ext", kT0 - 5));
  ASSERT_TRUE(s.correspondent_record("alice@ours", "gone@ext", kT0 - kDefaultCorrespondentTtl));  // expired
  ASSERT_TRUE(s.counter_add("rl:a", 7, kT0 + 60));
  ASSERT_TRUE(s.counter_add("rl:never", -2, 0));
  ASSERT_TRUE(s.counter_add("rl:over", 1, kT0));  // expired
  ASSERT_TRUE(s.record_put("fact:1", std::string("\0bin", 4), kT0 + 10));
  ASSERT_TRUE(s.record_put("fact:never", "v", 0));
  ASSERT_TRUE(s.record_put("fact:old", "v", kT0 - 1));  // expired
  ASSERT_TRUE(s.listing_hit("192.0.2.7", {"bounce", "<t@x>", kT0}));
  ASSERT_TRUE(s.listing_hit("2001:db8::1", {"autoreply", "", kT0 - 3}));
  auto l = **s.listing_get("2001:db8::1");
  l.listed = false;
  ASSERT_TRUE(s.listing_put(l));
  ASSERT_TRUE(s.allowlist_add("203.0.113.0/24"));
  ASSERT_TRUE(s.allowlist_add("2001:db8:abcd::/48"));
}

const std::vector<std::string> kEveryKind = {
    "allow 2001:db8:abcd::/48",
    "allow 203.0.113.0/24",
    "corr alice@ours bob@ext " + std::to_string(kT0 - 5),
    "counter rl:a 7 " + std::to_string(kT0 + 60),
    "counter rl:never -2 0",
    "first " + std::to_string(kT0 - kDefaultLedgerTtl),
    "ledger <m1@x> " + std::to_string(kT0 - 100) + " <alice@example.com> bob@example.net carol@example.org",
    "ledger <m2@x> " + std::to_string(kT0) + " <> r@example.net envid=env-m2",
    "listing 192.0.2.7 listed bounce=1 " + std::to_string(kT0) + "-" + std::to_string(kT0) + " <t@x>",
    "listing 2001:db8::1 delisted autoreply=1 " + std::to_string(kT0 - 3) + "-" + std::to_string(kT0 - 3) + " ",
    "record fact:1 " + std::string("\0bin", 4) + " " + std::to_string(kT0 + 10),
    "record fact:never v 0",
};

TEST_P(StoreConformance, ListingKeepsSelfDelistsThroughHitsPutsAndExport) {
  ASSERT_TRUE(store_->listing_hit("192.0.2.9", {"bounce", "", kT0}));
  auto l = **store_->listing_get("192.0.2.9");
  EXPECT_EQ(l.self_delists, 0u);
  l.listed = false;
  l.self_delists = 2;
  ASSERT_TRUE(store_->listing_put(l));
  auto after = store_->listing_hit("192.0.2.9", {"bounce", "", kT0 + 5});
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->listed) << "a hit lists again";
  EXPECT_EQ(after->self_delists, 2u) << "and keeps the count";
  EXPECT_EQ((**store_->listing_get("192.0.2.9")).self_delists, 2u);
  Collect got;
  ASSERT_TRUE(store_->export_all(got));
  testing::TempDir other_dir;
  auto other = GetParam().open(other_dir.path(), options_);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->apply(got.ops));
  EXPECT_EQ((**other->listing_get("192.0.2.9")).self_delists, 2u) << "a copy carries it";
}

TEST_P(StoreConformance, RecordAppendKeepsTheNewestItemsWithinBounds) {
  auto append = [&](std::string item, std::size_t max_items, std::size_t max_bytes, std::int64_t exp) {
    return store_->apply(std::vector<WriteOp>{RecordAppend{"ev:1", std::move(item), max_items, max_bytes, exp}});
  };
  auto items = [&]() -> std::vector<std::string> {
    auto v = store_->record_get("ev:1");
    if (!v || !v->has_value()) return {};
    auto i = record_items(**v);
    EXPECT_TRUE(i) << "a RecordAppend value splits";
    return i ? *i : std::vector<std::string>{};
  };
  ASSERT_TRUE(append("a", 3, 1000, kT0 + 100));
  ASSERT_TRUE(append(std::string("b\0b", 3), 3, 1000, kT0 + 100));
  ASSERT_TRUE(append("c", 3, 1000, kT0 + 100));
  ASSERT_TRUE(append("d", 3, 1000, kT0 + 100));
  EXPECT_EQ(items(), (std::vector<std::string>{std::string("b\0b", 3), "c", "d"})) << "count bound: oldest out";
  ASSERT_TRUE(append(std::string(600, 'x'), 3, 1000, kT0 + 100));
  ASSERT_TRUE(append(std::string(300, 'y'), 3, 1000, kT0 + 100));
  EXPECT_EQ(items(), (std::vector<std::string>{"d", std::string(600, 'x'), std::string(300, 'y')}));
  ASSERT_TRUE(append(std::string(200, 'w'), 3, 1000, kT0 + 100));
  EXPECT_EQ(items(), (std::vector<std::string>{std::string(300, 'y'), std::string(200, 'w')})) << "byte bound";
  ASSERT_TRUE(append(std::string(2000, 'z'), 3, 1000, kT0 + 100));
  EXPECT_TRUE(items().empty()) << "an item over the bound alone is not kept";
  // Several appends to one key in one batch apply in order.
  std::vector<WriteOp> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(RecordAppend{"ev:1", std::to_string(i), 2, 1000, kT0 + 50});
  ASSERT_TRUE(store_->apply(batch));
  EXPECT_EQ(items(), (std::vector<std::string>{"3", "4"}));
  // A record that is not a list is replaced, not an error.
  ASSERT_TRUE(store_->record_put("ev:1", std::string("\xff\xff\xff", 3), 0));
  ASSERT_TRUE(append("fresh", 2, 1000, kT0 + 50));
  EXPECT_EQ(items(), (std::vector<std::string>{"fresh"}));
  // The last append's expiry holds; an expired list starts over.
  clock_.advance(50);
  EXPECT_FALSE(store_->record_get("ev:1")->has_value());
  ASSERT_TRUE(append("new", 2, 1000, kT0 + 500));
  EXPECT_EQ(items(), (std::vector<std::string>{"new"}));
  // Bad bounds and keys are refused, nothing written.
  EXPECT_EQ(append("q", 0, 1000, 0).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(append("q", 2, kMaxRecordBytes + 1, 0).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->apply(std::vector<WriteOp>{RecordAppend{"", "q", 1, 10, 0}}).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(items(), (std::vector<std::string>{"new"}));
  // Appends ride in a batch with listing hits (the trap path).
  ASSERT_TRUE(store_->apply(std::vector<WriteOp>{ListingHit{"192.0.2.44", {"bounce", "", kT0 + 51}},
                                                 RecordAppend{"ev:2", "h", 4, 1000, kT0 + 900}}));
  EXPECT_EQ((**store_->listing_get("192.0.2.44")).total_hits(), 1u);
  EXPECT_TRUE(store_->record_get("ev:2")->has_value());
}

TEST_P(StoreConformance, ExportVisitsEveryUnexpiredItem) {
  Collect empty;
  ASSERT_TRUE(store_->export_all(empty));
  EXPECT_TRUE(empty.lines.empty());
  fill_every_kind(*store_);
  Collect got;
  auto s = store_->export_all(got);
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_EQ(got.sorted(), kEveryKind);
  EXPECT_TRUE(got.damage.empty());
}

TEST_P(StoreConformance, ExportedItemsWrittenBackRecreateTheState) {
  fill_every_kind(*store_);
  Collect first;
  ASSERT_TRUE(store_->export_all(first));
  testing::TempDir other_dir;
  auto other = GetParam().open(other_dir.path(), options_);
  ASSERT_NE(other, nullptr);
  auto w = other->apply(first.ops);
  ASSERT_TRUE(w) << w.error().to_string();
  Collect second;
  ASSERT_TRUE(other->export_all(second));
  EXPECT_EQ(second.sorted(), kEveryKind);
  // The reads agree too.
  EXPECT_EQ(**other->ledger_get("<m1@x>"), entry(kT0 - 100));
  EXPECT_EQ(**other->ledger_first_time(), kT0 - kDefaultLedgerTtl);
  EXPECT_EQ(*other->counter_get("rl:a"), 7);
  EXPECT_EQ(*other->counter_add("rl:a", 1, kT0 + 9999), 8) << "the copied window goes on";
  EXPECT_EQ(**other->correspondent_last_seen("alice@ours", "bob@ext"), kT0 - 5);
  EXPECT_EQ(other->correspondents("alice@ours", 10)->size(), 1u);
  EXPECT_FALSE((*other->listing_get("2001:db8::1"))->listed);
  EXPECT_EQ(other->listing_all()->size(), 2u);
  EXPECT_TRUE(*other->allowlisted("203.0.113.9"));
  EXPECT_EQ(other->ledger_recent(10)->size(), 2u);
  // The ledger's index is rebuilt from the copied entries.
  EXPECT_EQ(ids_of(other->ledger_find({LedgerKey::kRecipient, "carol@example.org", kT0 - kDay, kT0})),
            std::vector<std::string>{"<m1@x>"});
  EXPECT_EQ(ids_of(other->ledger_find({LedgerKey::kEnvid, "env-m2", kT0 - kDay, kT0})),
            std::vector<std::string>{"<m2@x>"});
  clock_.advance(60);
  EXPECT_EQ(*other->counter_get("rl:a"), 0) << "the copied expiry holds";
}

TEST_P(StoreConformance, ImportOpsKeepTheFirstTimeMinimumAndSetCounters) {
  std::vector<WriteOp> ops = {LedgerFirstTime{kT0}, LedgerFirstTime{kT0 + 5}, CounterPut{"c", 41, kT0 + 10}};
  ASSERT_TRUE(store_->apply(ops));
  EXPECT_EQ(**store_->ledger_first_time(), kT0);
  ASSERT_TRUE(store_->ledger_put("<later@x>", entry(kT0 + 100)));
  EXPECT_EQ(**store_->ledger_first_time(), kT0) << "a later entry keeps the imported first time";
  ASSERT_TRUE(store_->apply(std::vector<WriteOp>{LedgerFirstTime{kT0 - 1}}));
  EXPECT_EQ(**store_->ledger_first_time(), kT0 - 1);
  EXPECT_EQ(*store_->counter_get("c"), 41);
  ASSERT_TRUE(store_->apply(std::vector<WriteOp>{CounterPut{"c", 3, kT0 + 20}}));
  EXPECT_EQ(*store_->counter_get("c"), 3) << "CounterPut replaces";
  clock_.advance(20);
  EXPECT_EQ(*store_->counter_get("c"), 0);
  EXPECT_EQ(store_->apply(std::vector<WriteOp>{CounterPut{"", 1, 0}}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->apply(std::vector<WriteOp>{AllowlistAdd{"10.0.0.0/33"}}).error().code(), Code::kInvalidArgument);
  Listing bad;
  bad.ip = "nope";
  EXPECT_EQ(store_->apply(std::vector<WriteOp>{ListingPut{bad}}).error().code(), Code::kInvalidArgument);
}

TEST_P(StoreConformance, ExportStopsAtTheVisitorsError) {
  fill_every_kind(*store_);
  struct StopAtThird final : ExportVisitor {
    int seen = 0;
    Status item(const ExportItem&) override {
      if (++seen == 3) return fail(Code::kInternal, "enough");
      return {};
    }
    void damaged(std::string_view, std::string_view, std::string_view) override {}
  } stop;
  auto s = store_->export_all(stop);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "enough");
  EXPECT_EQ(stop.seen, 3);
}

TEST_P(StoreConformance, ExportOfManyEntries) {
  constexpr int kEntries = 5000;
  std::vector<WriteOp> ops;
  for (int i = 0; i < kEntries; ++i) ops.push_back(LedgerPut{"<e" + std::to_string(i) + "@x>", entry(kT0 + i)});
  ASSERT_TRUE(store_->apply(ops));
  Collect got;
  ASSERT_TRUE(store_->export_all(got));
  std::set<std::string> distinct(got.lines.begin(), got.lines.end());
  EXPECT_EQ(got.lines.size(), kEntries + 1u) << "each entry once, and the first time";
  EXPECT_EQ(distinct.size(), got.lines.size());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance,
                         ::testing::Values(Backend{"memory", open_memory}, Backend{"lmdb", open_lmdb},
                                           Backend{"redis", open_redis, redis_skip_reason}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace backstop::store
