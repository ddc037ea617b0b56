// Cost per message of the outbound limit checks on LMDB (issue 7): one
// message = limit_message() (messages windows + the distinct-sender sketch)
// + limit_recipients() for its recipients, with a provider-like rule set
// (per SASL user, per client address, per sender domain). Results and the
// command: docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "outbound/limits.h"

namespace {

using namespace backstop;

outbound::Settings provider_rules() {
  outbound::Settings s;
  auto add = [&](std::map<std::string, std::string> t) { s.rules.push_back(*outbound::parse_rule(t, s.rules.size())); };
  add({{"name", "user"}, {"scope", "sasl_user"}, {"messages", "100000/1m, 1000000/1d"}, {"recipients", "1000000/1h"},
       {"senders", "20/1h"}, {"action", "tempfail"}});
  add({{"name", "ip"}, {"scope", "client_ip"}, {"messages", "100000/1m"}, {"senders", "50/1h"}, {"action", "alert"}});
  add({{"name", "domain"}, {"scope", "sender_domain"}, {"recipients", "10000000/1d"}});
  return s;
}

void BM_LimitChecksPerMessage(benchmark::State& state) {
  const bool sync = state.range(0) != 0;
  const int users = static_cast<int>(state.range(1));
  char tmpl[] = "/tmp/backstop-outbound-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  ManualClock clock(1'800'000'000);
  auto st = store::open_lmdb_store({.dir = dir, .map_size = std::size_t{1} << 28, .sync = sync}, {.clock = &clock});
  if (!st) {
    state.SkipWithError("lmdb");
    return;
  }
  auto limiter = outbound::Limiter::create(provider_rules(), st->get(), &clock);
  std::int64_t i = 0;
  for (auto _ : state) {
    const int u = static_cast<int>(i % users);
    outbound::Client c{"user" + std::to_string(u), "192.0.2." + std::to_string(u % 250),
                       "user" + std::to_string(u) + "@example.org"};
    auto v = limiter->message(c);
    auto r = limiter->recipients(c, 3);
    benchmark::DoNotOptimize(v);
    benchmark::DoNotOptimize(r);
    if (++i % 64 == 0) clock.advance(1);
  }
  state.SetItemsProcessed(state.iterations());
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_LimitChecksPerMessage)->Args({0, 1})->Args({0, 1000})->Args({1, 1000})->UseRealTime();

}  // namespace
BENCHMARK_MAIN();
