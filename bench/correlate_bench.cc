// Correlation + policy cost per message (issue 4), over the LMDB and memory
// stores: a classified bounce referencing a Message-ID (hit and miss), then
// the policy decision. Classification and parsing are measured in
// classify_bench and mail_bench.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <unistd.h>

#include "correlate/correlate.h"
#include "policy/policy.h"
#include "store/store.h"

namespace {

using namespace backstop;

constexpr std::int64_t kNow = 1'800'000'000;

struct Fixture {
  ManualClock clock{kNow};
  std::unique_ptr<store::Store> store;
  std::unique_ptr<correlate::Correlator> correlator;
  policy::Table table;
  std::filesystem::path dir;

  explicit Fixture(bool lmdb) {
    store::Options o;
    o.clock = &clock;
    if (lmdb) {
      dir = std::filesystem::temp_directory_path() / ("backstop-correlate-bench-" + std::to_string(::getpid()));
      std::filesystem::remove_all(dir);
      store = std::move(*store::open_lmdb_store({dir.string(), std::size_t{1} << 30, std::size_t{4} << 30, false}, o));
    } else {
      store = store::make_memory_store(o);
    }
    std::vector<store::WriteOp> ops;
    for (int i = 0; i < 100000; ++i) {
      ops.push_back(store::LedgerPut{"id" + std::to_string(i) + "@example.org",
                                     {kNow - 86400 * 10, "alice@example.org", {"bob@remote.example"}}});
      if (ops.size() == 1000) {
        (void)store->apply(ops);
        ops.clear();
      }
    }
    correlate::Settings s;
    s.local_domains = {"example.org"};
    s.relays = *correlate::RelaySet::parse({"mx1.example.org", "192.0.2.0/24"});
    correlator = std::make_unique<correlate::Correlator>(s, store.get(), nullptr, &clock);
  }
  ~Fixture() {
    store.reset();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};

void run(benchmark::State& state, bool lmdb, bool hit) {
  Fixture f(lmdb);
  classify::Verdict v;
  v.kind = classify::Kind::kBounce;
  v.signals = {"multipart_report", "dsn_failed", "null_sender"};
  v.refs.original_received_hosts = {"mx.remote.example", "relay.elsewhere.example"};
  v.refs.original_received_ips = {"203.0.113.5"};
  mail::Envelope env{
      .known = true, .mail_from = "", .rcpts = {"alice@example.org"}, .client_ip = "198.51.100.7"};
  std::size_t i = 0;
  for (auto _ : state) {
    v.refs.message_id = (hit ? "id" : "nope") + std::to_string(i++ % 100000) + "@example.org";
    auto o = f.correlator->correlate(v, env);
    auto d = f.table.decide(v, *o);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_CorrelatePolicy_Lmdb_Hit(benchmark::State& s) { run(s, true, true); }
void BM_CorrelatePolicy_Lmdb_Miss(benchmark::State& s) { run(s, true, false); }
void BM_CorrelatePolicy_Memory_Hit(benchmark::State& s) { run(s, false, true); }
void BM_CorrelatePolicy_Memory_Miss(benchmark::State& s) { run(s, false, false); }
BENCHMARK(BM_CorrelatePolicy_Lmdb_Hit);
BENCHMARK(BM_CorrelatePolicy_Lmdb_Miss);
BENCHMARK(BM_CorrelatePolicy_Memory_Hit);
BENCHMARK(BM_CorrelatePolicy_Memory_Miss);

}  // namespace

BENCHMARK_MAIN();
