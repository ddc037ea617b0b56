// DNSBL benchmarks:
//  - pure parts: query names, DNS answer parsing;
//  - export of 1,000,000 listings to rbldnsd files (atomic write);
//  - lookups against a real rbldnsd on loopback (started here, stopped by
//    PID): throughput with 64 lookups in flight and the latency one lookup
//    adds (sequential), both with the cache off so every lookup hits DNS.
// Run: build/release/bench/dnsbl_bench  (needs rbldnsd; see docs/benchmarks.md)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dnsbl/cares_resolver.h"
#include "dnsbl/client.h"
#include "dnsbl/dns_answer.h"
#include "dnsbl/dns_test_util.h"
#include "dnsbl/export.h"
#include "dnsbl/query_name.h"

namespace {

using namespace backstop;
using namespace backstop::dnsbl;

std::string ipv4(std::uint32_t v) {
  return std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 255) + "." + std::to_string((v >> 8) & 255) +
         "." + std::to_string(v & 255);
}

// Public-looking IPv4 addresses 11.0.0.0 + i*7 (never 127/8).
std::string listed_ip(std::size_t i) { return ipv4(0x0b000000u + static_cast<std::uint32_t>(i) * 7u); }

std::vector<store::Listing> make_listings(std::size_t n) {
  std::vector<store::Listing> out;
  out.reserve(n);
  const std::int64_t t0 = 1'793'491'200;
  for (std::size_t i = 0; i < n; ++i) {
    store::Listing l;
    l.ip = (i % 10 == 9) ? "2001:db8:" + std::to_string(i % 65536) + "::" + std::to_string(i % 9973 + 1)
                         : listed_ip(i);
    l.hits = {{"bounce", 1 + i % 5}};
    if (i % 3 == 0) l.hits["autoreply"] = 1;
    l.first_seen = t0 - static_cast<std::int64_t>(i % 20) * 86400;
    l.last_seen = t0;
    l.listed = true;
    out.push_back(std::move(l));
  }
  return out;
}

std::string make_dir() {
  char tmpl[] = "/tmp/dnsbl-bench-XXXXXX";
  std::string d = mkdtemp(tmpl);
  chmod(d.c_str(), 0755);
  return d;
}

void BM_QueryNameV4(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(query_name("192.0.2.10", "bl.example.org"));
}
BENCHMARK(BM_QueryNameV4);

void BM_QueryNameV6(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(query_name("2001:db8:ffff::25", "bl.example.org"));
}
BENCHMARK(BM_QueryNameV6);

void BM_ParseAnswer(benchmark::State& state) {
  testing::Response r;
  r.qname = "10.2.0.192.bl.example.org";
  r.answers = {testing::a_rr(127, 0, 0, 2)};
  auto pkt = testing::build(r);
  for (auto _ : state) benchmark::DoNotOptimize(parse_dns_answer(pkt, r.qname, kTypeA));
}
BENCHMARK(BM_ParseAnswer);

void BM_Export(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto listings = make_listings(n);
  const std::string dir = make_dir();
  ExportOptions o;
  o.zone = "bl.example.org";
  o.out_dir = dir;
  o.url = "https://bl.example.org/lookup";
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto st = export_zone(listings, o, 1'793'491'200);
    if (!st) state.SkipWithError(st.error().message().c_str());
    struct stat a{}, b{};
    stat(st->ip4_path.c_str(), &a);
    stat(st->ip6_path.c_str(), &b);
    bytes = static_cast<std::size_t>(a.st_size + b.st_size);
  }
  state.counters["listings"] = static_cast<double>(n);
  state.counters["file_MB"] = static_cast<double>(bytes) / 1e6;
  state.counters["listings/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  std::system(("rm -rf '" + dir + "'").c_str());
}
BENCHMARK(BM_Export)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// A private rbldnsd serving `kZoneListings` IPv4 listings.
constexpr std::size_t kZoneListings = 100'000;
struct Rbldnsd {
  std::string dir;
  pid_t pid = -1;
  std::uint16_t port = 0;
  Rbldnsd() {
    dir = make_dir();
    ExportOptions o;
    o.zone = "bl.bench";
    o.out_dir = dir;
    std::vector<store::Listing> ls;
    for (std::size_t i = 0; i < kZoneListings; ++i) {
      store::Listing l;
      l.ip = listed_ip(i);
      l.hits = {{"bounce", 1}};
      l.first_seen = l.last_seen = 1'793'491'200;
      l.listed = true;
      ls.push_back(l);
    }
    if (!export_zone(ls, o, 1'793'491'200)) return;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    port = ntohs(a.sin_port);
    pid = fork();
    if (pid == 0) {
      const std::string b = "127.0.0.1/" + std::to_string(port);
      std::freopen("/dev/null", "w", stdout);
      std::freopen("/dev/null", "w", stderr);
      execlp("rbldnsd", "rbldnsd", "-n", "-r", dir.c_str(), "-b", b.c_str(), "bl.bench:ip4set:bl.bench.ip4set",
             "bl.bench:ip6trie:bl.bench.ip6trie", static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  }
  ~Rbldnsd() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    std::system(("rm -rf '" + dir + "'").c_str());
  }
};

Rbldnsd& server() {
  static Rbldnsd s;
  return s;
}

struct Setup {
  asio::io_context io;
  std::unique_ptr<Resolver> resolver;
  std::unique_ptr<Client> client;
  Setup() {
    CaresOptions co;
    co.server = "127.0.0.1";
    co.port = server().port;
    co.timeout = std::chrono::milliseconds(2000);
    resolver = std::move(*make_cares_resolver(io.get_executor(), co));
    ClientOptions opts;
    ZoneConfig z;
    z.name = "bl.bench";
    opts.zones = {z};
    opts.cache_entries = 1;  // every lookup goes to rbldnsd
    opts.safe_mode = false;
    client = std::move(*Client::create(io.get_executor(), *resolver, system_clock(), opts));
  }
};

// Half the lookups are listed (A + TXT: two queries), half not (one NXDOMAIN).
std::string lookup_ip(std::size_t i) {
  return (i % 2 == 0) ? listed_ip((i / 2) % kZoneListings) : ipv4(0x0c000000u + static_cast<std::uint32_t>(i));
}

void BM_RbldnsdThroughput(benchmark::State& state) {
  if (server().pid <= 0) {
    state.SkipWithError("rbldnsd did not start");
    return;
  }
  Setup s;
  const std::size_t in_flight = static_cast<std::size_t>(state.range(0));
  std::size_t next = 0, listed = 0, errors = 0, done = 0;
  const std::size_t per_iter = 20'000;
  for (auto _ : state) {
    std::size_t target = done + per_iter;
    std::size_t started = done;
    std::function<void()> start_one;
    start_one = [&] {
      if (started >= target) return;
      ++started;
      s.client->lookup(lookup_ip(next++), [&](CheckResult r) {
        ++done;
        if (r.listed()) ++listed;
        if (r.zones[0].status == LookupStatus::kError) ++errors;
        start_one();
      });
    };
    for (std::size_t i = 0; i < in_flight; ++i) start_one();
    s.io.restart();
    s.io.run();
  }
  state.counters["lookups/s"] = benchmark::Counter(static_cast<double>(done), benchmark::Counter::kIsRate);
  state.counters["listed"] = static_cast<double>(listed);
  state.counters["errors"] = static_cast<double>(errors);
}
BENCHMARK(BM_RbldnsdThroughput)->Arg(64)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

void BM_RbldnsdLatency(benchmark::State& state) {
  if (server().pid <= 0) {
    state.SkipWithError("rbldnsd did not start");
    return;
  }
  Setup s;
  std::vector<double> us;
  std::size_t i = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    s.client->lookup(lookup_ip(i++), [](CheckResult) {});
    s.io.restart();
    s.io.run();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[us.size() * 99 / 100];
}
BENCHMARK(BM_RbldnsdLatency)->Iterations(20'000)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
