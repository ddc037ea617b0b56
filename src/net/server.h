// The network front-end base shared by the milter, the policy service and the
// HTTP endpoint: listeners, acceptors, a worker pool of single-threaded
// io_contexts, a connection cap, per-connection deadlines, back-off after
// accept errors, and a draining stop. A protocol supplies one coroutine per
// connection (ServeFn); everything else is here.
//
// This header includes Asio: include it only from a front end's .cc file,
// never from a public header of a component.
//
// Threads: one per worker (named "bs-NAME-i"). Each connection lives on one
// worker; its ServeFn, its deadline and its busy() run on that worker's
// thread only. Acceptors run on worker 0 and hand sockets out round-robin.
//
// Errors: create() returns kInvalidArgument for a bad endpoint and
// kEnvironment when one cannot be bound (address in use, bad directory).
// After start(), nothing is fatal: an exception escaping a ServeFn closes that
// connection only and is counted and logged; a failed accept (EMFILE, ENFILE,
// ENOBUFS) pauses that acceptor with a doubling back-off, so a descriptor
// shortage is never a busy loop and never ends the process.
//
// Lifecycle: create() binds; start() launches the threads; stop() drains
// (acceptors close at once; connections whose busy() is false are closed; busy
// ones get up to drain_timeout, then are closed); wait() joins and removes unix
// socket files. stop() is thread-safe (call it from a signal-handling thread,
// not a signal handler). The destructor stops and waits.
#pragma once

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace backstop::net {

using Clock = std::chrono::steady_clock;
// One socket type for TCP and unix-domain connections: the protocols see the
// same stream; tcp() tells them apart where TCP options matter.
using Socket = asio::generic::stream_protocol::socket;
// Completion token: errors as values (asio::error_code first in a tuple).
inline constexpr auto kTok = asio::experimental::as_tuple(asio::use_awaitable);

// Concurrent connections per server, unless configured: each costs a socket
// and the protocol's buffers (≤ ~1.3 MiB for the milter); 4096 bounds the
// daemon to a few GiB in the worst case and keeps it far below a raised
// RLIMIT_NOFILE.
inline constexpr std::size_t kDefaultMaxConnections = 4096;
// First and longest pause after a failed accept. EMFILE leaves the connection
// in the backlog, so an immediate retry fails again: back off, doubling.
inline constexpr std::chrono::milliseconds kAcceptBackoffMin{10};
inline constexpr std::chrono::milliseconds kAcceptBackoffMax{1000};
// Longest wait for busy connections on stop: a drain should not hold a restart
// as long as Postfix's milter_content_timeout (300 s).
inline constexpr std::chrono::seconds kDefaultDrainTimeout{30};

// One accepted connection. Owned by the server (shared with the ServeFn).
class Conn {
 public:
  Conn(Socket sock, bool tcp);
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  Socket sock;
  // For the protocol's own waits (a pending decision, a progress interval):
  // close() cancels it, so a wait ends when the connection does.
  asio::steady_timer wake;
  // Asked by a drain: true while cutting the connection would lose an answer
  // (inside a message, a request being answered). Unset = never busy.
  std::function<bool()> busy;

  bool tcp() const { return tcp_; }
  // The connection is closed (and counted as a timeout) once tp has passed.
  // Clock::time_point::max() = no deadline. Cheap when tp is not earlier than
  // the current deadline (no timer operation).
  void set_deadline(Clock::time_point tp);
  void set_timeout(std::chrono::milliseconds d) { set_deadline(Clock::now() + d); }
  void clear_deadline() { set_deadline(Clock::time_point::max()); }
  // Closes the socket; pending reads and writes end with an error.
  void close();
  bool closing() const { return closing_; }
  // The connection was closed by its deadline (or mark_timed_out()).
  bool timed_out() const { return timed_out_; }
  void mark_timed_out() { timed_out_ = true; }
  // Writes all of data, bounded by now + timeout; restores the previous
  // deadline afterwards. False when the peer failed or was too slow (the
  // connection is then closed).
  asio::awaitable<bool> write(std::string_view data, std::chrono::milliseconds timeout);

 private:
  friend class Server;
  // Holds c until the connection is done: the watchdog may outlive serving.
  static asio::awaitable<void> watch(std::shared_ptr<Conn> c);
  asio::steady_timer watchdog_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool tcp_;
  bool done_ = false;
  bool closing_ = false;
  bool timed_out_ = false;
};

// The protocol: serves one connection until it returns. Runs on the
// connection's worker; may throw (the connection is then closed and the
// exception counted). The server closes the socket after it returns.
using ServeFn = std::function<asio::awaitable<void>(std::shared_ptr<Conn>)>;

struct ServerOptions {
  std::string name = "net";       // thread names "bs-NAME-i", log prefix
  std::vector<std::string> listen;  // net/listen.h syntax
  unsigned threads = 0;           // 0 = one per core
  unsigned unix_mode = 0660;      // mode of unix: socket files
  std::size_t max_connections = kDefaultMaxConnections;
  std::chrono::milliseconds drain_timeout = kDefaultDrainTimeout;
  bool tcp_nodelay = true;        // replies are small and must leave at once
  // Warnings (accept errors, exceptions). Any worker thread, concurrently.
  std::function<void(std::string_view)> log;
};

struct ServerStats {
  std::uint64_t connections = 0;    // accepted in total
  std::uint64_t active = 0;         // open now
  std::uint64_t refused = 0;        // closed at accept: over the cap, or draining
  std::uint64_t accept_errors = 0;  // failed accepts (each followed by a back-off)
  std::uint64_t timeouts = 0;       // closed by a deadline
  std::uint64_t exceptions = 0;     // closed by an exception caught at the edge
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> create(ServerOptions opts, ServeFn serve);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound endpoints in net/listen.h syntax, ports resolved (port 0).
  std::vector<std::string> endpoints() const;
  void start();
  void stop();
  void wait();
  bool draining() const;
  ServerStats stats() const;
  // For a protocol that catches an exception itself (e.g. in a callback it
  // posted): counts it and logs "NAME: what".
  void note_exception(std::string_view what);
  void warn(std::string_view what) const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace backstop::net
