// Store throughput: ledger lookups (hit, miss) and inserts (one transaction
// each, and batched), LMDB vs the in-memory backend. Results: docs/benchmarks.md.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/batch_writer.h"
#include "store/store.h"

namespace backstop::store {
namespace {

constexpr int kPreloaded = 100'000;  // ledger entries present for lookups
constexpr std::int64_t kT0 = 4'000'000'000;  // far future: nothing expires during the run

std::string message_id(std::int64_t i) {
  return "20261127." + std::to_string(i) + ".A1B2C3D4E5@mail.example.com";
}
LedgerEntry entry(std::int64_t i) {
  return {kT0 + i, "alice.sender@example.com", {"bob.rcpt@example.net", "carol@example.org"}};
}

std::string temp_dir() {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/backstop-bench-XXXXXX";
  if (!mkdtemp(tmpl.data())) std::abort();
  return tmpl;
}

// A store per backend and sync mode, created once and preloaded.
Store& preloaded(bool lmdb) {
  static std::unique_ptr<Store> stores[2];
  auto& s = stores[lmdb ? 1 : 0];
  if (!s) {
    if (lmdb) {
      auto r = open_lmdb_store({.dir = temp_dir(), .sync = false});
      if (!r) std::abort();
      s = std::move(*r);
    } else {
      s = make_memory_store();
    }
    std::vector<WriteOp> ops;
    for (int i = 0; i < kPreloaded; ++i) ops.push_back(LedgerPut{message_id(i), entry(i)});
    if (!s->apply(ops)) std::abort();
  }
  return *s;
}

void lookup(benchmark::State& state, bool lmdb, bool hit) {
  Store& s = preloaded(lmdb);
  std::uint64_t x = 88172645463325252ull;
  for (auto _ : state) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift: scattered keys
    const auto i = static_cast<std::int64_t>(x % kPreloaded) + (hit ? 0 : kPreloaded);
    auto r = s.ledger_get(message_id(i));
    if (!r || r->has_value() != hit) state.SkipWithError("unexpected lookup result");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_LmdbLedgerGetHit(benchmark::State& st) { lookup(st, true, true); }
void BM_LmdbLedgerGetMiss(benchmark::State& st) { lookup(st, true, false); }
void BM_MemoryLedgerGetHit(benchmark::State& st) { lookup(st, false, true); }
void BM_MemoryLedgerGetMiss(benchmark::State& st) { lookup(st, false, false); }

// One ledger_put = one committed transaction. range(0): 1 = fsync each commit.
void BM_LmdbLedgerPutSingle(benchmark::State& state) {
  const std::string dir = temp_dir();
  auto s = open_lmdb_store({.dir = dir, .sync = state.range(0) == 1});
  if (!s) std::abort();
  std::int64_t i = 0;
  for (auto _ : state) {
    if (!(*s)->ledger_put(message_id(i), entry(i))) state.SkipWithError("put failed");
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  s->reset();
  std::filesystem::remove_all(dir);
}

// range(0) entries per Store::apply (one transaction), fsync on commit.
void BM_LmdbLedgerPutBatched(benchmark::State& state) {
  const std::string dir = temp_dir();
  auto s = open_lmdb_store({.dir = dir, .sync = true});
  if (!s) std::abort();
  const auto batch = state.range(0);
  std::int64_t i = 0;
  std::vector<WriteOp> ops;
  for (auto _ : state) {
    state.PauseTiming();
    ops.clear();
    for (std::int64_t k = 0; k < batch; ++k, ++i) ops.push_back(LedgerPut{message_id(i), entry(i)});
    state.ResumeTiming();
    if (!(*s)->apply(ops)) state.SkipWithError("apply failed");
  }
  state.SetItemsProcessed(state.iterations() * batch);
  s->reset();
  std::filesystem::remove_all(dir);
}

// The event-loop path: enqueue into a BatchWriter (background commits), then flush.
void BM_LmdbBatchWriterEnqueue(benchmark::State& state) {
  const std::string dir = temp_dir();
  auto s = open_lmdb_store({.dir = dir, .sync = true});
  if (!s) std::abort();
  {
    BatchWriter writer(**s);
    std::int64_t i = 0;
    for (auto _ : state) {
      while (!writer.enqueue(LedgerPut{message_id(i), entry(i)})) {
        if (!writer.flush()) state.SkipWithError("flush failed");
      }
      ++i;
    }
    if (!writer.flush()) state.SkipWithError("flush failed");
    state.counters["batches"] = static_cast<double>(writer.stats().batches);
  }
  state.SetItemsProcessed(state.iterations());
  s->reset();
  std::filesystem::remove_all(dir);
}

void BM_MemoryLedgerPut(benchmark::State& state) {
  auto s = make_memory_store();
  std::int64_t i = 0;
  for (auto _ : state) {
    if (!s->ledger_put(message_id(i), entry(i))) state.SkipWithError("put failed");
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

// Rates are per wall-clock second: writes wait on the disk, not the CPU.
BENCHMARK(BM_LmdbLedgerGetHit)->UseRealTime();
BENCHMARK(BM_LmdbLedgerGetMiss)->UseRealTime();
BENCHMARK(BM_MemoryLedgerGetHit)->UseRealTime();
BENCHMARK(BM_MemoryLedgerGetMiss)->UseRealTime();
BENCHMARK(BM_LmdbLedgerPutSingle)->Arg(0)->Arg(1)->ArgName("fsync")->UseRealTime();
BENCHMARK(BM_LmdbLedgerPutBatched)->Arg(100)->Arg(1000)->UseRealTime();
BENCHMARK(BM_LmdbBatchWriterEnqueue)->UseRealTime();
BENCHMARK(BM_MemoryLedgerPut)->UseRealTime();

}  // namespace
}  // namespace backstop::store

BENCHMARK_MAIN();
