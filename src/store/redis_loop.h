// Redis reads driven by an event loop: each loop thread (a milter worker)
// holds one connection of the Redis store's pool and pipelines the batch
// reads of its messages on it, sending each and reading its replies between
// the loop's other events, so that a bounce's look-up costs no thread switch
// and no loop thread ever waits on a round trip.
//
// What may block is handed to a worker (`offload`): taking a connection
// from the pool (connecting, asking the sentinels) and, while the loop has
// no connection, the reads themselves (Store::read_batch on the worker).
// Faults:
//   - a reply not complete within RedisOptions::timeout: every read waiting
//     on the connection answers kUnavailable ("timed out"; the mail path
//     answers 4xx), and the connection is dropped as broken (the pool backs
//     off);
//   - the connection closed or failing (a restarted server, a reset): the
//     reads waiting on it are handed to the worker, which reads through the
//     pool (a fresh connection, or kUnavailable when there is none);
//   - a READONLY / MASTERDOWN reply: that read answers kUnavailable and the
//     pool asks the sentinels again (as on the synchronous path);
//   - after a failure the loop connects again on the next read, at most
//     once per back-off (kRedisBackoffMin doubling to kRedisBackoffMax).
// Every reply is checked as on the synchronous path (redis_client.h).
// Limits: kMaxLoopPending reads in flight per loop (more go to the worker),
// kMaxLoopInput bytes of unparsed replies (more: the connection is dropped).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "store/store.h"

namespace asio {
class io_context;
}

namespace backstop::store {

// Reads in flight on one loop's connection: at 2,000 bounces a second and
// 1 ms round trips a loop has a few; a thousand means the server stalls,
// and the rest wait on the worker instead of deepening the pipeline.
inline constexpr std::size_t kMaxLoopPending = 1024;
// Unparsed reply bytes held per connection: our largest answer (a batch of
// kMaxBatchReads reads, each MGET of at most kMaxIndexScan ledger entries)
// is far below; beyond this a server is sending what we did not ask for.
inline constexpr std::size_t kMaxLoopInput = std::size_t{64} << 20;

// Runs `task` off the loop (a worker thread); false when refused (its
// queue is full, or it is stopping).
using Offload = std::function<bool(std::function<void()>)>;

// A connection stands (with a read on it, so that a server that closes it
// is noticed at once) from the first read until quiesce() or destruction.
class RedisLoopReads : public AsyncReads {
 public:
  // Gives the connection back, so that the loop can run out of work (a
  // server's stop): reads waiting on it go to the worker. Reads started
  // later connect again. Call on the loop's thread.
  virtual void quiesce() = 0;
};

// Loop reads for `store` when it is a Redis store (open_redis_store), else
// null. `io` is the calling thread's loop, run by that one thread; the
// reader is used and destroyed on it, and must be destroyed before `io`.
// `store` and whatever `offload` runs on must outlive the reader and the
// tasks it handed over.
std::unique_ptr<RedisLoopReads> make_redis_loop_reads(Store& store, asio::io_context& io, Offload offload);

}  // namespace backstop::store
