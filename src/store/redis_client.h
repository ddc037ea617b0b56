// The Redis backend's client side (not part of the public interface): one
// hiredis connection, a pool of them with back-off and Sentinel discovery,
// and checks of untrusted replies. Errors are values: an I/O failure is
// kUnavailable and marks the connection broken; a reply of the wrong type or
// size is kMalformed.
// Thread-safety: a Connection is used by one thread at a time (the pool hands
// it out); Pool is safe from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/redis_store.h"

struct redisContext;
struct redisReply;

namespace backstop::store::redis {

// One command: its arguments, binary-safe.
using Command = std::vector<std::string>;

struct ReplyDeleter {
  void operator()(redisReply* r) const;
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// What a reply says about the connection it came on.
enum class Health {
  kOk,        // usable again
  kDiscard,   // our side left it in an unknown state (e.g. inside MULTI): close it quietly
  kBroken,    // I/O failure or timeout: close it and every idle one, back off
  kFailover,  // READONLY / MASTERDOWN: as kBroken, and ask the sentinels again
};

class Connection {
 public:
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects within `timeout` and sets it as the socket's send and receive
  // timeout. kUnavailable with the reason.
  static Result<std::unique_ptr<Connection>> open(const RedisEndpoint& at, std::chrono::milliseconds timeout);

  // Sends the commands in one write (a pipeline) and reads one reply per
  // command, in order. An I/O failure or timeout is kUnavailable and sets
  // health() to kBroken; error replies are returned as replies, and a
  // READONLY or MASTERDOWN one (also inside an array: EXEC) sets kFailover.
  Result<std::vector<Reply>> run(std::span<const Command> commands);
  Result<Reply> run1(const Command& command);

  Health health() const { return health_; }
  // Sets the health; kBroken and kFailover are final (kFailover outranks kBroken).
  void set_health(Health h);
  // Why the connection broke (empty while it works).
  const std::string& error() const { return error_; }
  // The socket, for a caller that drives the connection itself
  // (redis_loop.cc): it must leave no reply unread before the lease ends,
  // or set_health(kDiscard).
  int fd() const;
  std::uint64_t generation = 0;  // the pool's generation when it was made
  RemoteObserver* observer = nullptr;  // not owned; told of each run()

 private:
  Connection() = default;
  Status send_all(std::string_view bytes);
  redisContext* ctx_ = nullptr;
  Health health_ = Health::kOk;
  std::string error_;
};

struct PoolOptions {
  std::vector<RedisEndpoint> servers;
  std::string sentinel_master;
  std::vector<RedisEndpoint> sentinels;
  std::string user;
  std::string password;
  int db = 0;
  std::chrono::milliseconds timeout{1000};
  std::size_t max_connections = kDefaultRedisConnections;
  RemoteObserver* observer = nullptr;  // not owned, outlives the pool; null: none
};

class Pool;

// A connection on loan; given back to the pool on destruction, kept or
// dropped by its health().
class Lease {
 public:
  Lease(Pool* pool, std::unique_ptr<Connection> c) : pool_(pool), c_(std::move(c)) {}
  Lease(Lease&&) = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease();
  Connection* operator->() { return c_.get(); }
  Connection& operator*() { return *c_; }

 private:
  Pool* pool_;
  std::unique_ptr<Connection> c_;
};

class Pool {
 public:
  explicit Pool(PoolOptions o);
  ~Pool();
  // An idle connection, or a new one. Fails at once (kUnavailable) during a
  // back-off; waits up to the timeout while every connection is lent or
  // another thread is connecting.
  Result<Lease> acquire();
  const PoolOptions& options() const { return opt_; }

 private:
  friend class Lease;
  void give_back(std::unique_ptr<Connection> c);
  // Outside the lock: finds the master (Sentinel) or the first standalone
  // server that answers as a master, and sets the connection up.
  Result<std::unique_ptr<Connection>> connect();
  Result<std::unique_ptr<Connection>> connect_to(const RedisEndpoint& at, bool* replica);
  Result<RedisEndpoint> ask_sentinels();
  // With mu_ held.
  void note_failure(std::string why, bool failover);

  const PoolOptions opt_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;  // idle + lent + being made
  bool connecting_ = false;
  std::uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_ = kRedisBackoffMin;
  std::string last_error_;
  std::optional<RedisEndpoint> master_;  // Sentinel's answer, until a failure
  std::size_t preferred_ = 0;           // index in servers of the last master
};

// ---- checking replies (untrusted) ----

// Error replies: kUnavailable with the server's text (truncated, printable),
// except WRONGTYPE (kMalformed: one of our keys holds a foreign type).
Status check_reply(const redisReply* r);
// A bulk string of at most `max` bytes, or nullopt for nil.
Result<std::optional<std::string>> string_or_nil(const redisReply* r, std::size_t max, std::string_view what);
Result<std::string> string_of(const redisReply* r, std::size_t max, std::string_view what);
Result<long long> integer_of(const redisReply* r, std::string_view what);
// An array of at most `max` elements (nil counts as empty when nil_ok).
Result<std::span<redisReply*>> array_of(const redisReply* r, std::size_t max, std::string_view what,
                                        bool nil_ok = false);
// A decimal integer as Redis prints it ("-12"), within ±kRedisMaxExactInt
// (a sorted-set score, a counter field).
Result<std::int64_t> parse_exact_int(std::string_view text, std::string_view what);

// Server text made safe for a log line.
std::string printable(std::string_view text);
// Appends the commands in the protocol's encoding (kInternal if hiredis
// cannot format one: out of memory).
Status append_commands(std::string& out, std::span<const Command> commands);
// READONLY or MASTERDOWN: the server is no longer (or not yet) the master.
bool is_failover_error(const redisReply* r);

// ---- the store's batch reads in steps ----

// A batch read in progress.
struct BatchRead {
  ReadBatchResult out;
  std::vector<std::vector<std::string>> find_ids;  // per ledger find: the members its range named
};

// The Redis store's read_batch() in steps, for a caller that drives a
// connection itself (redis_loop.cc): send first(batch) as one pipeline, give
// its replies to after_first(), which returns the second pipeline's
// commands (empty: done), and give those replies to after_second(). The
// result is then st.out. Errors as read_batch()'s: error replies and values
// of the wrong shape are kUnavailable / kMalformed.
class BatchReads {
 public:
  virtual ~BatchReads() = default;
  // kInvalidArgument as read_batch() (too many reads, a bad key).
  virtual Status check(const ReadBatch& batch) const = 0;
  virtual std::vector<Command> first(const ReadBatch& batch) const = 0;
  virtual Result<std::vector<Command>> after_first(const ReadBatch& batch, BatchRead& st,
                                                   std::span<const Reply> replies) = 0;
  virtual Status after_second(const ReadBatch& batch, BatchRead& st, std::span<const Reply> replies) = 0;
  virtual Pool& pool() = 0;
  virtual RemoteObserver* observer() = 0;  // null: none
};

}  // namespace backstop::store::redis
