#include "daemon/state.h"

#include <algorithm>
#include <filesystem>
#include <thread>

namespace backstop::daemon {
namespace {

constexpr std::int64_t kDay = 86400;
// Starting LMDB map size: address space, not disk (the file is sparse);
// enough for about a million ledger records before the first doubling.
constexpr std::size_t kInitialMapSize = std::size_t{256} << 20;

Result<StateStores> open_lmdb(const config::Config& cfg, const store::Options& so, StateScope scope) {
  StateStores out;
  store::LmdbOptions lo;
  lo.dir = cfg.get_string("state.dir");
  // state.map_size_mb is the ceiling: the map starts small and doubles on
  // demand up to it; beyond, writes fail (deferred mail, /healthz 503)
  // instead of filling the disk.
  lo.max_map_size = static_cast<std::size_t>(cfg.get_int("state.map_size_mb")) << 20;
  lo.map_size = std::min(lo.max_map_size, kInitialMapSize);
  auto s = store::open_lmdb_store(lo, so);
  if (!s) return fail(s.error().code(), "state.dir " + lo.dir + ": " + s.error().message());
  out.main = std::move(*s);
  if (scope == StateScope::kMain) return out;
  // Rate counters and inbound facts are soft state, each in its own
  // environment without fsync: a limit check costs microseconds, not a disk
  // flush. After a power loss such an environment may be damaged; it is
  // then recreated empty (the windows start over, the gate knows less),
  // never a reason not to start.
  auto open_soft = [&](std::string_view sub) -> Result<std::unique_ptr<store::Store>> {
    store::LmdbOptions co;
    co.dir = lo.dir + "/" + std::string(sub);
    co.sync = false;
    co.max_map_size = lo.max_map_size;  // its own bound
    co.map_size = lo.map_size;
    auto c = store::open_lmdb_store(co, so);
    if (!c && scope == StateScope::kWithSoftAsIs) {
      return fail(c.error().code(), "state.dir " + co.dir + ": " + c.error().message());
    }
    if (!c) {
      std::error_code ec;
      std::filesystem::remove_all(co.dir, ec);
      c = store::open_lmdb_store(co, so);
      if (!c) return fail(c.error().code(), "state.dir " + co.dir + ": " + c.error().message());
    }
    return std::move(*c);
  };
  auto c = open_soft(kCountersDir);
  BACKSTOP_TRY(c);
  out.counters = std::move(*c);
  auto f = open_soft(kFactsDir);
  BACKSTOP_TRY(f);
  out.facts = std::move(*f);
  return out;
}

Result<StateStores> open_redis(const config::Config& cfg, const store::Options& so, StateScope scope) {
  auto ro = redis_options(cfg);
  BACKSTOP_TRY(ro);
  StateStores out;
  const auto soft_servers = cfg.get_list("redis.soft_servers");
  auto open_one = [&](std::string_view sub) -> Result<std::unique_ptr<store::Store>> {
    store::RedisOptions o = *ro;
    if (!sub.empty()) o.prefix += std::string(sub) + ":";
    if (sub.empty()) o.max_connections = store::kDefaultRedisConnections + redis_loop_connections(cfg);
    if (!sub.empty() && !soft_servers.empty()) {
      // Soft state on its own servers (redis.soft_servers).
      o.servers = soft_servers;
      o.sentinel_master.clear();
      o.sentinels.clear();
    }
    auto s = store::open_redis_store(o, so);
    if (!s) return fail(s.error().code(), describe_state(cfg) + ": " + s.error().message());
    return std::move(*s);
  };
  auto m = open_one("");
  BACKSTOP_TRY(m);
  out.main = std::move(*m);
  if (scope == StateScope::kMain) return out;
  // Soft state under its own prefixes: Redis has no per-prefix bound, but
  // the purge and the keys' own expiry keep each one to its live windows.
  auto c = open_one(kCountersDir);
  BACKSTOP_TRY(c);
  out.counters = std::move(*c);
  auto f = open_one(kFactsDir);
  BACKSTOP_TRY(f);
  out.facts = std::move(*f);
  return out;
}

}  // namespace

std::size_t redis_loop_connections(const config::Config& cfg) {
  std::size_t threads = static_cast<std::size_t>(std::max<std::int64_t>(0, cfg.get_int("milter.threads")));
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  return std::min(threads, store::kMaxRedisConnections - store::kDefaultRedisConnections);
}

Result<store::RedisOptions> redis_options(const config::Config& cfg) {
  store::RedisOptions o;
  o.servers = cfg.get_list("redis.servers");
  o.sentinel_master = cfg.get_string("redis.sentinel_master");
  o.sentinels = cfg.get_list("redis.sentinels");
  o.user = cfg.get_string("redis.user");
  o.password = cfg.get_string("redis.password");
  o.db = static_cast<int>(cfg.get_int("redis.db"));
  o.prefix = cfg.get_string("redis.prefix");
  o.timeout = std::chrono::milliseconds(cfg.get_int("redis.timeout_ms"));
  if (!o.sentinel_master.empty() && o.sentinels.empty()) {
    return fail(Code::kInvalidArgument, "redis.sentinel_master is set but redis.sentinels is empty");
  }
  if (o.sentinel_master.empty() && o.servers.empty()) {
    return fail(Code::kInvalidArgument, "redis.servers is empty and no redis.sentinel_master is set");
  }
  if (!o.user.empty() && o.password.empty()) {
    return fail(Code::kInvalidArgument, "redis.user is set but redis.password is empty");
  }
  return o;
}

store::Options store_options(const config::Config& cfg, const Clock* clock) {
  store::Options so;
  so.clock = clock;
  so.ledger_ttl = cfg.get_int("ledger.ttl_days") * kDay;
  return so;
}

Result<StateStores> open_state(const config::Config& cfg, const store::Options& options, StateScope scope) {
  const auto& backend = cfg.get_string("state.backend");
  if (backend == "redis") return open_redis(cfg, options, scope);
  if (backend == "memory") {
    StateStores out;
    out.main = store::make_memory_store(options);
    return out;
  }
  return open_lmdb(cfg, options, scope);
}

Result<std::unique_ptr<store::Store>> open_main_store(const config::Config& cfg) {
  auto s = open_state(cfg, store_options(cfg), StateScope::kMain);
  BACKSTOP_TRY(s);
  return std::move(s->main);
}

std::string describe_state(const config::Config& cfg) {
  const auto& backend = cfg.get_string("state.backend");
  if (backend == "memory") return "memory";
  if (backend != "redis") return "lmdb " + cfg.get_string("state.dir");
  std::string where;
  if (!cfg.get_string("redis.sentinel_master").empty()) {
    where = "sentinel " + cfg.get_string("redis.sentinel_master");
  } else {
    for (const auto& s : cfg.get_list("redis.servers")) where += (where.empty() ? "" : ",") + s;
  }
  return "redis " + where + " (prefix " + cfg.get_string("redis.prefix") + ")";
}

}  // namespace backstop::daemon
