// LMDB-only behaviour: persistence across reopen, several processes, map
// limits, damaged bytes, no lost committed record after kill -9, and reader
// slots (stale ones freed, a full table a clean kUnavailable).
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <span>
#include <vector>

#include "store/store.h"
#include "store/test_util.h"

namespace backstop::store {
namespace {

constexpr std::int64_t kT0 = 1'700'000'000;

std::unique_ptr<Store> open_or_die(const std::string& dir, Options o = {}, bool sync = false) {
  auto s = open_lmdb_store({.dir = dir, .sync = sync}, o);
  EXPECT_TRUE(s) << s.error().to_string();
  return s ? std::move(*s) : nullptr;
}

TEST(Lmdb, ReopenKeepsEverything) {
  testing::TempDir dir;
  ManualClock clock(kT0);
  Options o{.clock = &clock};
  {
    auto s = open_or_die(dir.path(), o);
    ASSERT_TRUE(s->ledger_put("<p@x>", {kT0, "a@b", {"c@d"}}));
    ASSERT_TRUE(s->correspondent_record("a@b", "c@d", kT0));
    ASSERT_EQ(*s->counter_add("c", 5, 0), 5);
    ASSERT_TRUE(s->record_put("r", "v", 0));
    ASSERT_TRUE(s->listing_hit("192.0.2.1", {"bounce", "", kT0}));
    ASSERT_TRUE(s->allowlist_add("10.0.0.0/8"));
  }
  auto s = open_or_die(dir.path(), o);
  EXPECT_EQ((*s->ledger_get("<p@x>"))->sender, "a@b");
  EXPECT_EQ(**s->correspondent_last_seen("a@b", "c@d"), kT0);
  EXPECT_EQ(*s->counter_get("c"), 5);
  EXPECT_EQ(**s->record_get("r"), "v");
  EXPECT_TRUE((*s->listing_get("192.0.2.1"))->listed);
  EXPECT_TRUE(*s->allowlisted("10.9.9.9"));
  EXPECT_EQ(**s->ledger_first_time(), kT0);
}

// A state written before the ledger's index existed (its entries, no
// "ledger_keys" and no built flag) gets the index built when opened.
TEST(Lmdb, OldStateGetsTheLedgerIndexBuiltAtOpen) {
  testing::TempDir dir;
  ManualClock clock(kT0);
  Options o{.clock = &clock};
  {
    auto s = open_or_die(dir.path(), o);
    ASSERT_TRUE(s->ledger_put("<old1@x>", {kT0 - 10, "a@b", {"Bob@Example.net"}, "E1"}));
    ASSERT_TRUE(s->ledger_put("<old2@x>", {kT0 - 5, "a@b", {"carol@example.net"}}));
  }
  {  // Take the index away as an older backstop would have left the state.
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    ASSERT_EQ(mdb_env_open(env, dir.path().c_str(), MDB_NOTLS, 0600), 0);
    MDB_txn* txn = nullptr;
    MDB_dbi keys = 0, meta = 0;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "ledger_keys", MDB_DUPSORT, &keys), 0);
    ASSERT_EQ(mdb_drop(txn, keys, 1), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k{17, const_cast<char*>("ledger.keys_built")};
    ASSERT_EQ(mdb_del(txn, meta, &k, nullptr), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto s = open_or_die(dir.path(), o);
  auto bob = s->ledger_find({LedgerKey::kRecipient, "bob@example.net", kT0 - 100, kT0});
  ASSERT_TRUE(bob) << bob.error().to_string();
  ASSERT_EQ(bob->size(), 1u);
  EXPECT_EQ(bob->front().message_id, "<old1@x>");
  auto env = s->ledger_find({LedgerKey::kEnvid, "E1", kT0 - 100, kT0});
  ASSERT_TRUE(env);
  EXPECT_EQ(env->size(), 1u);
  EXPECT_EQ(s->ledger_find({LedgerKey::kRecipient, "carol@example.net", kT0 - 100, kT0})->size(), 1u);
}

TEST(Lmdb, CreatesPrivateStateDirectory) {
  testing::TempDir dir;
  const std::string sub = dir.path() + "/a/b";
  ASSERT_NE(open_or_die(sub), nullptr);
  struct stat st{};
  ASSERT_EQ(::stat(sub.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((sub + "/data.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

TEST(Lmdb, NotADirectoryIsAnEnvironmentError) {
  testing::TempDir dir;
  const std::string file = dir.path() + "/file";
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  auto s = open_lmdb_store({.dir = file});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kEnvironment);
}

TEST(Lmdb, MapFullBeyondMaximumIsUnavailable) {
  testing::TempDir dir;
  auto s = open_lmdb_store({.dir = dir.path(), .map_size = 256 * 1024, .max_map_size = 512 * 1024, .sync = false});
  ASSERT_TRUE(s);
  Status last;
  for (int i = 0; i < 2000 && last; ++i) {
    last = (*s)->record_put("k" + std::to_string(i), std::string(4000, 'x'), 0);
  }
  ASSERT_FALSE(last) << "8 MB of records cannot fit a 512 KiB map";
  EXPECT_EQ(last.error().code(), Code::kUnavailable);
  EXPECT_TRUE((*s)->record_get("k0")->has_value()) << "earlier commits are intact";
}

// The purge works in chunks (one write transaction each) and still removes
// everything expired and nothing else, across chunk boundaries.
TEST(Lmdb, PurgeInChunksRemovesEveryExpiredItemAndNothingElse) {
  testing::TempDir dir;
  ManualClock clock(kT0);
  auto s = open_lmdb_store({.dir = dir.path(), .sync = false}, {.clock = &clock, .ledger_ttl = 100});
  ASSERT_TRUE(s);
  std::vector<WriteOp> ops;
  constexpr int kLedger = 2500, kRecords = 25000;  // several chunks of each kind
  for (int i = 0; i < kLedger; ++i) ops.push_back(LedgerPut{"old" + std::to_string(i) + "@x", {kT0, "a@b", {"c@d"}}});
  for (int i = 0; i < kRecords; ++i) {
    // every third one lives on; the others expire
    ops.push_back(RecordPut{"r" + std::to_string(i), "v", i % 3 == 0 ? kT0 + 1000 : kT0 + 10});
  }
  for (std::size_t i = 0; i < ops.size(); i += 1000) {
    ASSERT_TRUE((*s)->apply(std::span<const WriteOp>(ops).subspan(i, std::min<std::size_t>(1000, ops.size() - i))));
  }
  clock.advance(200);
  ASSERT_TRUE((*s)->ledger_put("new@x", {kT0 + 200, "a@b", {"c@d"}}));
  auto purged = (*s)->purge_expired();
  ASSERT_TRUE(purged) << purged.error().to_string();
  const std::size_t expired_records = kRecords - (kRecords + 2) / 3;
  EXPECT_EQ(*purged, kLedger + expired_records);
  EXPECT_FALSE((*s)->ledger_get("old0@x")->has_value());
  EXPECT_FALSE((*s)->ledger_get("old2499@x")->has_value());
  EXPECT_TRUE((*s)->ledger_get("new@x")->has_value());
  EXPECT_TRUE((*s)->record_get("r0")->has_value());
  EXPECT_TRUE((*s)->record_get("r24999")->has_value());  // 24999 % 3 == 0
  EXPECT_FALSE((*s)->record_get("r24998")->has_value());
  EXPECT_EQ(*(*s)->purge_expired(), 0u);
}

TEST(Lmdb, DamagedBytesAreMalformed) {
  testing::TempDir dir;
  ASSERT_TRUE(open_or_die(dir.path())->ledger_put("<d@x>", {kT0, "", {}}));
  {  // Overwrite the value behind the store's back.
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    ASSERT_EQ(mdb_env_open(env, dir.path().c_str(), MDB_NOTLS, 0600), 0);
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "ledger", 0, &dbi), 0);
    MDB_val k{5, const_cast<char*>("<d@x>")}, v{3, const_cast<char*>("\x01\xff\xff")};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  ManualClock clock(kT0);
  auto s = open_or_die(dir.path(), {.clock = &clock});
  auto r = s->ledger_get("<d@x>");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kMalformed);
}

TEST(Lmdb, CounterLimitIsExactAcrossProcesses) {
  testing::TempDir dir;
  ASSERT_NE(open_or_die(dir.path()), nullptr);  // create, then close before forking
  constexpr int kChildren = 4, kTries = 50, kLimit = 77;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::vector<pid_t> pids;
  for (int c = 0; c < kChildren; ++c) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = open_lmdb_store({.dir = dir.path(), .sync = false});
      int admitted = 0;
      for (int i = 0; s && i < kTries; ++i) {
        auto r = (*s)->counter_add_if_below("shared", 1, kLimit, 0);
        if (!r) _exit(3);
        admitted += *r ? 1 : 0;
      }
      ssize_t w = write(fds[1], &admitted, sizeof admitted);
      _exit(w == sizeof admitted ? 0 : 4);
    }
    pids.push_back(pid);
  }
  close(fds[1]);
  int total = 0;
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  int n = 0;
  while (read(fds[0], &n, sizeof n) == sizeof n) total += n;
  close(fds[0]);
  EXPECT_EQ(total, kLimit);
  EXPECT_EQ(*open_or_die(dir.path())->counter_get("shared"), kLimit);
}

// Another process holding LMDB reader slots: a forked child that opens the
// environment with LMDB itself (as `backstop ledger show` or a second daemon
// would) and begins read transactions, each taking one slot, until it holds
// `want` or LMDB refuses one (MDB_READERS_FULL: every slot taken). held() is
// how many it holds. release() aborts them all while the child lives on;
// kill() ends it with SIGKILL, leaving its slots stale in lock.mdb; the
// destructor ends it normally.
class ReaderHog {
 public:
  static constexpr int kAll = -1;

  ReaderHog(const std::string& dir, int want) {
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) return;
    pid_ = fork();
    if (pid_ < 0) return;
    if (pid_ == 0) {
      close(down[1]);
      close(up[0]);
      child(dir, want, down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
    to_child_ = down[1];
    from_child_ = up[0];
    held_ = answer();
  }
  ~ReaderHog() {
    if (pid_ > 0) {
      command('q');
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    if (to_child_ >= 0) close(to_child_);
    if (from_child_ >= 0) close(from_child_);
  }
  ReaderHog(const ReaderHog&) = delete;
  ReaderHog& operator=(const ReaderHog&) = delete;

  // Slots held; -1 when the child failed.
  int held() const { return held_; }
  // Aborts every transaction; true once the child has.
  bool release() { return command('r') && answer() == 0; }
  // SIGKILL; true once the child is reaped, killed by it.
  bool kill() {
    if (pid_ <= 0 || ::kill(pid_, SIGKILL) != 0) return false;
    int status = 0;
    const bool killed = waitpid(pid_, &status, 0) == pid_ && WIFSIGNALED(status);
    pid_ = -1;
    return killed;
  }

 private:
  [[noreturn]] static void child(const std::string& dir, int want, int in, int out) {
    MDB_env* env = nullptr;
    std::vector<MDB_txn*> txns;
    int held = -1;
    if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 16) == 0 &&
        mdb_env_set_maxreaders(env, kLmdbMaxReaders) == 0 && mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0600) == 0) {
      held = 0;
      // Far more than any table has slots: the loop ends at MDB_READERS_FULL.
      while (want == kAll ? txns.size() < 100 * kLmdbMaxReaders : txns.size() < static_cast<std::size_t>(want)) {
        MDB_txn* t = nullptr;
        int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &t);
        if (rc == MDB_READERS_FULL) break;
        if (rc != 0) {
          held = -1;
          break;
        }
        txns.push_back(t);
      }
      if (held == 0) held = static_cast<int>(txns.size());
    }
    if (write(out, &held, sizeof held) != sizeof held) _exit(1);
    char c = 0;
    while (read(in, &c, 1) == 1 && c == 'r') {
      for (MDB_txn* t : txns) mdb_txn_abort(t);
      txns.clear();
      int zero = 0;
      if (write(out, &zero, sizeof zero) != sizeof zero) _exit(1);
    }
    _exit(0);  // 'q' or the parent gone; no destructors, no leak report
  }
  bool command(char c) { return to_child_ >= 0 && write(to_child_, &c, 1) == 1; }
  int answer() {
    int v = -1;
    return read(from_child_, &v, sizeof v) == sizeof v ? v : -1;
  }

  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  int held_ = -1;
};

// A process killed while it held every reader slot (SIGKILL: no chance to
// free them) does not lock the running store out: the read that finds the
// table full frees the dead process's slots and is retried, and every slot
// is free again afterwards.
TEST(Lmdb, ReaderSlotsOfAKilledProcessAreFreedWhenTheTableIsFull) {
  testing::TempDir dir;
  auto s = open_or_die(dir.path());
  ASSERT_TRUE(s->record_put("k", "v", 0));
  {
    ReaderHog dead(dir.path(), ReaderHog::kAll);
    ASSERT_EQ(dead.held(), static_cast<int>(kLmdbMaxReaders)) << "the hog must take every slot";
    ASSERT_TRUE(dead.kill());
  }
  auto r = s->record_get("k");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->value_or(""), "v");
  // Every stale slot was freed, not just one: another process gets them all.
  ReaderHog next(dir.path(), ReaderHog::kAll);
  EXPECT_EQ(next.held(), static_cast<int>(kLmdbMaxReaders));
}

// The same at open: a store opened while another process keeps the
// environment open (so LMDB does not reset lock.mdb) frees the slots a killed
// process left, before any read of its own.
TEST(Lmdb, ReaderSlotsOfAKilledProcessAreFreedAtOpen) {
  testing::TempDir dir;
  ASSERT_NE(open_or_die(dir.path()), nullptr);  // create, then close before forking
  ReaderHog keeper(dir.path(), 0);              // holds the environment open, no slot
  ASSERT_EQ(keeper.held(), 0);
  {
    ReaderHog dead(dir.path(), ReaderHog::kAll);
    ASSERT_EQ(dead.held(), static_cast<int>(kLmdbMaxReaders));
    ASSERT_TRUE(dead.kill());
  }
  auto s = open_or_die(dir.path());
  ASSERT_NE(s, nullptr);
  // Freed by the open alone: this process uses LMDB directly, which never
  // frees stale slots by itself, and gets every one.
  ReaderHog next(dir.path(), ReaderHog::kAll);
  EXPECT_EQ(next.held(), static_cast<int>(kLmdbMaxReaders));
}

// Live readers holding every slot: a read fails at once with kUnavailable
// (the mail path's 4xx), neither a crash nor a wait; writes, which take no
// reader slot, still commit; reads work again once the readers let go.
TEST(Lmdb, ReadsAreUnavailableWhileLiveReadersHoldEverySlot) {
  testing::TempDir dir;
  ManualClock clock(kT0);
  auto s = open_or_die(dir.path(), {.clock = &clock});
  ASSERT_TRUE(s->record_put("k", "v", 0));
  ASSERT_TRUE(s->ledger_put("held@x", {kT0, "a@b", {"c@d"}}));
  ReaderHog live(dir.path(), ReaderHog::kAll);
  ASSERT_EQ(live.held(), static_cast<int>(kLmdbMaxReaders));

  const auto start = std::chrono::steady_clock::now();
  auto r = s->record_get("k");
  auto l = s->ledger_get("held@x");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r) << "a read needs a slot and none is free";
  EXPECT_EQ(r.error().code(), Code::kUnavailable) << r.error().to_string();
  EXPECT_NE(r.error().message().find("MDB_READERS_FULL"), std::string::npos) << r.error().to_string();
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code(), Code::kUnavailable);
  EXPECT_LT(took, std::chrono::seconds(2)) << "a full table is an error now, not a wait";
  EXPECT_TRUE(s->record_put("k2", "v2", 0)) << "writes take no reader slot";

  ASSERT_TRUE(live.release());
  r = s->record_get("k");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->value_or(""), "v");
  auto r2 = s->record_get("k2");
  ASSERT_TRUE(r2) << r2.error().to_string();
  EXPECT_EQ(r2->value_or(""), "v2");
  EXPECT_TRUE(s->ledger_get("held@x")->has_value());
}

// A child commits ledger entries one transaction at a time and reports each
// committed number through a pipe; the parent kills it with SIGKILL mid-stream.
// Every reported number must be in the store after reopening.
TEST(Lmdb, KillNineLosesNoCommittedRecord) {
  testing::TempDir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    auto s = open_lmdb_store({.dir = dir.path(), .sync = true});
    if (!s) _exit(3);
    for (std::uint32_t i = 0; i < 1'000'000; ++i) {
      LedgerEntry e{kT0, "crash@x", {"r@y"}};
      if (!(*s)->ledger_put("<crash" + std::to_string(i) + "@x>", e)) _exit(4);
      if (write(fds[1], &i, sizeof i) != sizeof i) _exit(5);
    }
    _exit(0);
  }
  close(fds[1]);
  std::set<std::uint32_t> reported;
  std::uint32_t id = 0;
  while (reported.size() < 300 && read(fds[0], &id, sizeof id) == sizeof id) reported.insert(id);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child must die mid-stream, not finish";
  while (read(fds[0], &id, sizeof id) == sizeof id) reported.insert(id);
  close(fds[0]);
  ASSERT_GE(reported.size(), 300u);

  ManualClock clock(kT0);
  auto s = open_or_die(dir.path(), {.clock = &clock});
  std::size_t missing = 0;
  for (auto i : reported) {
    auto r = s->ledger_get("<crash" + std::to_string(i) + "@x>");
    ASSERT_TRUE(r) << r.error().to_string();
    if (!r->has_value()) ++missing;
  }
  EXPECT_EQ(missing, 0u) << "of " << reported.size() << " reported commits";
  // The store is still writable after the crash (stale reader slots are cleared).
  EXPECT_TRUE(s->ledger_put("<after@x>", {kT0, "", {}}));
}

}  // namespace
}  // namespace backstop::store
