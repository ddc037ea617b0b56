// Redis backend of the Store (src/store/store.h), for several backstop hosts
// sharing one state. Same semantics as the LMDB and memory backends (the
// conformance suite runs on all three); the key layout, value formats, memory
// per item and the persistence settings operators must use are in
// docs/store.md ("Redis").
//
// Connections: hiredis's synchronous API over a small pool (at most
// RedisOptions::max_connections), for worker threads; a call blocks its
// thread for at most a few network round trips, each bounded by `timeout`.
// A broken connection is dropped with every idle one (they share its fate
// when the server restarted or failed over); new connections are made again
// after a back-off (kRedisBackoffMin doubling to kRedisBackoffMax) during
// which calls fail at once, so a dead server costs no reconnect storm. With
// Sentinel, the master is asked of the sentinels again after any connection
// failure or a READONLY / MASTERDOWN reply.
//
// Errors: every Redis failure (refused, timed out, broken connection, a
// server error reply, a script error) is kUnavailable — the mail path answers
// 4xx; a value of the wrong shape or type under one of our keys is
// kMalformed. Never an exception, never a crash: every reply is untrusted and
// checked for type and size against the limits of store.h before use.
//
// Expiry is judged with Options::clock from the expiry stored in each value;
// Redis also expires each key kRedisExpiryGrace after that, measured from the
// write on Redis's own clock, only to reclaim memory.
//
// Requires Redis 6.2 or later (ZADD GT/LT, ZMSCORE); standalone or Sentinel,
// not Redis Cluster (the purge scripts touch keys they derive themselves).
// Thread-safety: as every Store, safe from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace backstop::store {

// The key prefix leaves room under Redis's key size for our longest key
// (a tag plus kMaxKeyBytes or a correspondent pair), and is short because
// every key repeats it.
inline constexpr std::size_t kMaxRedisPrefixBytes = 64;
// Connections one store may hold. The daemon's store callers are a few
// worker threads (writers, the outbound worker, milter threads judging
// messages); beyond this many, callers wait up to the timeout for one.
inline constexpr std::size_t kDefaultRedisConnections = 16;
inline constexpr std::size_t kMaxRedisConnections = 256;
// Back-off after a failed connection or exchange: the first retry after
// 50 ms (a restarting server is back within tens of milliseconds on a LAN),
// doubling to 2 s so a dead server sees at most one attempt every 2 s per
// store, whatever the call rate.
inline constexpr std::chrono::milliseconds kRedisBackoffMin{50};
inline constexpr std::chrono::milliseconds kRedisBackoffMax{2000};
// Redis deletes a key this long after its expiry (counted on the writer's
// clock at the write, then on Redis's): hosts whose clocks disagree by less
// than this still see an item until their own clock says it expired.
inline constexpr std::int64_t kRedisExpiryGrace = 300;
// Counters are updated in Lua, whose numbers are doubles: integers are exact
// up to 2^53. Deltas, limits and values beyond are refused (kInvalidArgument)
// or reported as damaged, never rounded.
inline constexpr std::int64_t kRedisMaxExactInt = (std::int64_t{1} << 53) - 1;

struct RedisOptions {
  // Standalone servers, tried in order until one answers as a master:
  // "HOST:PORT", "[IPv6]:PORT" (HOST an IP address or localhost: hiredis
  // resolves names without a timeout) or an absolute unix socket path.
  std::vector<std::string> servers = {};
  // Sentinel: when not empty, `sentinels` ("HOST:PORT") are asked for this
  // master's address and `servers` is not used.
  std::string sentinel_master = {};
  std::vector<std::string> sentinels = {};
  std::string user = {};      // ACL user for AUTH; empty: AUTH with the password alone
  std::string password = {};  // empty: no AUTH
  int db = 0;            // SELECT
  // Prepended to every key; several stores (or installations) share one
  // database under different prefixes. 1 to kMaxRedisPrefixBytes printable
  // ASCII bytes, no spaces.
  std::string prefix = "backstop:";
  // Connecting, and each wait for the network within a command.
  std::chrono::milliseconds timeout{1000};
  std::size_t max_connections = kDefaultRedisConnections;
};

// A parsed server address: a unix socket path, or host and port.
struct RedisEndpoint {
  std::string path;  // non-empty: unix socket
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};
// "HOST:PORT", "[IPv6]:PORT" or "/absolute/path"; kInvalidArgument otherwise.
Result<RedisEndpoint> parse_redis_endpoint(std::string_view text);
// kInvalidArgument unless `prefix` is a usable key prefix (see RedisOptions).
Status check_redis_prefix(std::string_view prefix);

// Connects (kUnavailable if no server answers, kInvalidArgument for bad
// options), checks the data layout under the prefix (kEnvironment if it was
// written by an incompatible version) and loads the scripts.
Result<std::unique_ptr<Store>> open_redis_store(const RedisOptions& redis, Options options = {});

}  // namespace backstop::store
