// The one place that turns a configuration into stores: state.backend
// (lmdb | redis | memory) with state.dir / state.map_size_mb or the redis.*
// keys. Every command that opens state (serve and check through the Engine,
// ledger, dnsbl, trap) goes through open_state(), so all follow the same
// backend. Its own small library (backstop_daemon_state: config + store), so
// the command-line tools need none of the daemon.
// Thread-safety: pure functions over the configuration, except that opening
// creates directories (LMDB) or connects (Redis).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "config/config.h"
#include "store/redis_store.h"
#include "store/store.h"

namespace backstop::daemon {

// Sub-directories of state.dir (LMDB) and sub-prefixes of redis.prefix
// (Redis) of the soft state: the outbound rate counters, and the facts about
// inbound mail that the autoreply gate reads. Each is a store of its own (an
// LMDB environment with its own bound), so a flood of inbound mail can fill
// the facts, never the counters that outbound mail needs.
inline constexpr std::string_view kCountersDir = "counters";
inline constexpr std::string_view kFactsDir = "facts";
inline constexpr std::string_view kSoftStateDirs[] = {kCountersDir, kFactsDir};

// The stores of one process. `counters` and `facts` are soft state (the
// outbound rate windows and autoreply counters; the autoreply gate's facts
// about inbound mail), kept apart so a flood of facts cannot crowd out the
// counters: their own LMDB environments without fsync under state.dir, or
// their own key prefixes in Redis. Null when they share `main` (the memory
// backend, or a command that opens only the main store).
struct StateStores {
  std::unique_ptr<store::Store> main;
  std::unique_ptr<store::Store> counters;
  std::unique_ptr<store::Store> facts;
};

enum class StateScope {
  kMain,       // the main store only (ledger, dnsbl and trap commands)
  kWithSoft,   // plus the counters and facts stores (serve, check)
  // All three as they are (store copy, store verify): a counters or facts
  // environment that cannot be opened is an error, never recreated empty.
  kWithSoftAsIs,
};

// The redis.* keys as store options. kInvalidArgument naming the key when
// they do not fit together (a Sentinel master without sentinels).
Result<store::RedisOptions> redis_options(const config::Config& cfg);

// The connections of the main Redis store that the milter threads may hold
// for their own reads (store/redis_loop.h), one each: milter.threads (0: one
// per core), at most kMaxRedisConnections - kDefaultRedisConnections. The
// main store's pool has these on top of kDefaultRedisConnections, so the
// judge worker and the writer always have theirs; threads beyond read
// through the judge worker.
std::size_t redis_loop_connections(const config::Config& cfg);

// Opens what state.backend names. Errors name the directory or the Redis
// servers: kEnvironment (LMDB directory), kUnavailable (Redis not
// reachable), kInvalidArgument (bad options).
Result<StateStores> open_state(const config::Config& cfg, const store::Options& options, StateScope scope);

// Store options from the configuration (ledger.ttl_days) and `clock`
// (null: the system clock).
store::Options store_options(const config::Config& cfg, const Clock* clock = nullptr);

// The main store alone, with store_options(cfg): open_state(cfg, ..., kMain).main.
Result<std::unique_ptr<store::Store>> open_main_store(const config::Config& cfg);

// For logs: "lmdb ./var/backstop", "redis 10.0.0.5:6379 (prefix backstop:)",
// "redis sentinel mymaster (prefix backstop:)", "memory".
std::string describe_state(const config::Config& cfg);

}  // namespace backstop::daemon
