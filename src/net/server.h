// The network front-end base shared by the milter, the policy service and the
// HTTP endpoint: listeners, acceptors, a worker pool of single-threaded
// io_contexts, a connection cap, per-connection deadlines, back-off after
// accept errors, and a draining stop. This header is the lifecycle a daemon
// drives (no Asio in it); a protocol implements one coroutine per connection
// against net/protocol.h and creates its server with net::create_server().
//
// Threads: one per worker (named "bs-NAME-i"). Each connection lives on one
// worker; its coroutine, deadline and busy() run on that worker's thread
// only. Acceptors run on worker 0 and hand sockets out round-robin.
//
// Errors: creation returns kInvalidArgument for a bad endpoint and
// kEnvironment when one cannot be bound (address in use, bad directory).
// After start(), nothing is fatal: an exception escaping a connection's
// coroutine closes that connection only and is counted and logged; a failed
// accept (EMFILE, ENFILE, ENOBUFS) pauses that acceptor with a doubling
// back-off, so a descriptor shortage is never a busy loop and never ends the
// process.
//
// Binding ahead: Listening::bind() binds endpoints without a server (and
// without threads); a server given them in ServerOptions::bound listens on
// and serves those sockets instead of binding its own. A daemon binds while it is privileged
// (ports below 1024, root-only directories), drops its privileges, and only
// then builds its servers.
//
// Lifecycle: start() launches the threads; stop() drains (acceptors close at
// once; connections whose busy() is false are closed; busy ones get up to
// drain_timeout, then are closed); wait() joins and removes unix socket
// files. stop() is thread-safe (call it from a signal-handling thread, not a
// signal handler). The destructor stops and waits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace asio {
class io_context;
}

namespace backstop::net {

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

class Listening;

// What a worker loop keeps for its life (ServerOptions::loop_state).
struct LoopState {
  // Kept until the loop has run out of work (the server stopped), then
  // destroyed on the loop's thread, before the loop is.
  std::shared_ptr<void> keep;
  // Called on the loop's thread once the server has drained it (no
  // connection left): it must end what `keep` has pending on the loop (a
  // standing read, a timer), or the loop never runs out of work. Empty:
  // `keep` never has anything pending once the connections are gone.
  std::function<void()> quiesce;
};

struct ServerOptions {
  std::string name = "net";       // thread names "bs-NAME-i", log prefix
  std::vector<std::string> listen;  // net/listen.h syntax
  // Sockets bound ahead (Listening::bind): when set, the server serves these
  // and `listen` and `unix_mode` are not used. The server takes them over, so
  // one Listening serves one server (a second is kInvalidArgument).
  std::shared_ptr<Listening> bound;
  unsigned threads = 0;           // 0 = one per core
  unsigned unix_mode = 0660;      // mode of unix: socket files
  std::size_t max_connections = kDefaultMaxConnections;
  std::chrono::milliseconds drain_timeout = kDefaultDrainTimeout;
  bool tcp_nodelay = true;        // replies are small and must leave at once
  // Who may connect, checked at accept; anyone else is closed at once,
  // counted as denied and logged. TCP: the client address must lie in one of
  // allow_networks (CIDRs, common/ip syntax; empty = any client). Unix
  // sockets: the peer's uid (SO_PEERCRED) must be 0 or in allow_uids, or its
  // gid in allow_gids (both empty = any peer the socket's mode lets in).
  std::vector<std::string> allow_networks;
  std::vector<unsigned> allow_uids;
  std::vector<unsigned> allow_gids;
  // Warnings (accept errors, exceptions, protocol errors). Any worker
  // thread, concurrently. Empty = silent.
  std::function<void(std::string_view)> log;
  // Per worker thread: called on it with its loop before the loop runs.
  // An exception from it is logged and the worker runs without. Empty: none.
  std::function<LoopState(asio::io_context&)> loop_state;
};

// Options with the given name and drain timeout, the rest as above. No
// listen endpoint: the daemon's come from the configuration's key table.
ServerOptions defaults(std::string name, std::chrono::milliseconds drain_timeout = kDefaultDrainTimeout);

struct ServerStats {
  std::uint64_t connections = 0;      // accepted in total
  std::uint64_t active = 0;           // open now
  std::uint64_t refused = 0;          // closed at accept: over the cap, or draining
  std::uint64_t denied = 0;           // closed at accept: peer not allowed
  std::uint64_t accept_errors = 0;    // failed accepts (each followed by a back-off)
  std::uint64_t requests = 0;         // requests or messages answered (protocol's count)
  std::uint64_t protocol_errors = 0;  // closed for malformed or oversized input
  std::uint64_t timeouts = 0;         // closed by a deadline
  std::uint64_t exceptions = 0;       // closed by an exception caught at the edge
};

class Server {
 public:
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

  // For protocols: counting and logging, from any thread.
  void note_exception(std::string_view what);      // counted; logged "NAME: what"
  void note_protocol_error(std::string_view what);  // counted; logged "NAME connection closed: what"
  void note_timeout(std::string_view what);        // counted; logged "NAME: what"
  void note_request();
  void warn(std::string_view what) const;

  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// Sockets bound ahead of the server that will serve them. They listen only
// once a server takes them over, so a client connecting earlier (while the
// daemon still opens its store) is refused, not queued: an open port means
// a server is serving it. Owns the descriptors (close-on-exec) until then;
// destroyed before that, it closes them and removes its unix socket files.
// Not thread-safe: a daemon uses it on its starting thread.
class Listening {
 public:
  // Binds every endpoint of `specs` (net/listen.h syntax); a unix: socket
  // file gets mode `unix_mode` (a stale socket file of an earlier run is
  // replaced; anything else at the path is an error).
  // kInvalidArgument for bad syntax or no endpoint, kEnvironment when one
  // cannot be bound (address in use, no permission, bad directory), each
  // prefixed "NAME: "; then nothing stays bound.
  static Result<std::shared_ptr<Listening>> bind(const std::string& name, const std::vector<std::string>& specs,
                                                 unsigned unix_mode);
  ~Listening();
  Listening(const Listening&) = delete;
  Listening& operator=(const Listening&) = delete;

  // The bound endpoints in net/listen.h syntax, ports resolved (port 0).
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  // The unix socket files created, in `specs` order.
  const std::vector<std::string>& unix_paths() const { return unix_paths_; }
  // A server has taken the sockets over.
  bool served() const { return taken_; }

  struct Socket {
    int fd = -1;
    int family = 0;    // AF_INET, AF_INET6, AF_UNIX
    int protocol = 0;  // IPPROTO_TCP for TCP, 0 for unix
  };

 private:
  friend struct Server::Impl;
  Listening() = default;
  std::vector<Socket> sockets_;
  std::vector<std::string> endpoints_;
  std::vector<std::string> unix_paths_;
  bool taken_ = false;
};

}  // namespace backstop::net
