// The milter server: the milter protocol on the shared network front end
// (net/server.h: listeners, worker pool, connection cap, accept back-off,
// drain). Each connection runs one coroutine on its worker driving a Session.
// Limits: a connection idle between packets for idle_timeout, or stuck inside
// one packet for packet_timeout, is closed; a reply the MTA does not take
// within write_timeout closes the connection; connections over
// max_connections are closed at accept. Any exception from Asio or a Handler
// is caught at the connection's edge: the connection is closed (the MTA then
// applies milter_default_action) and the server goes on.
//
// Lifecycle: create() binds (errors as values: bad endpoint, address in use);
// start() launches the threads; stop() drains: acceptors close at once, idle
// connections are closed, busy ones finish their current message (at most
// drain_timeout) and are then closed; wait() joins. The destructor stops and
// waits. stop() is thread-safe; call it from a signal-handling thread, not
// from a signal handler.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "milter/filter.h"
#include "milter/session.h"

namespace backstop::milter {

// Between two MTA commands: Postfix keeps the milter connection for the whole
// SMTP session and smtpd waits up to smtpd_timeout (300 s) per client command,
// several times per session; libmilter waits 7210 s. One hour frees sockets of
// vanished MTAs without cutting live sessions.
inline constexpr std::chrono::seconds kIdleTimeout{3600};
// Inside one packet: an MTA writes whole packets at once, so a
// packet that takes this long is a stalled or hostile peer (slowloris).
inline constexpr std::chrono::seconds kPacketTimeout{30};
// PROGRESS while a decision waits: Sendmail's default per-command timeouts
// (S:10s, R:10s) are the shortest in use; 5 s keeps well inside them.
inline constexpr std::chrono::seconds kProgressInterval{5};
// A Handler decision pending this long is abandoned and the connection
// closed: twice Postfix's milter_content_timeout (300 s), so the MTA has long
// given up (it applied milter_default_action) and only our memory is held.
inline constexpr std::chrono::seconds kDecisionTimeout{600};
// A reply the MTA does not read within this is written to a stalled peer:
// the MTA writes whole commands and reads our answer at once.
inline constexpr std::chrono::seconds kWriteTimeout{30};
// Longest wait for busy connections on stop (Postfix's milter_content_timeout
// is 300 s; a drain should not hold a restart that long).
inline constexpr std::chrono::seconds kDrainTimeout{30};
// Concurrent connections: each costs a socket and at most ~1.3 MiB (one
// packet + kept body/headers); 4096 bounds the daemon to a few GiB worst case.
inline constexpr std::size_t kMaxConnections = 4096;
// Socket read size per call: small enough to keep idle connections cheap
// (one buffer per connection), large enough that a 64 KiB body chunk takes
// four reads.
inline constexpr std::size_t kReadChunk = 16 * 1024;

struct ServerOptions {
  std::vector<std::string> listen{"inet:127.0.0.1:8895"};
  unsigned threads = 0;                 // 0 = one per core
  unsigned unix_mode = 0660;            // mode of unix: socket files
  SessionConfig session;
  std::chrono::milliseconds idle_timeout = kIdleTimeout;
  std::chrono::milliseconds packet_timeout = kPacketTimeout;
  std::chrono::milliseconds progress_interval = kProgressInterval;
  std::chrono::milliseconds write_timeout = kWriteTimeout;
  std::chrono::milliseconds drain_timeout = kDrainTimeout;
  std::chrono::milliseconds decision_timeout = kDecisionTimeout;
  std::size_t max_connections = kMaxConnections;
  // Warnings (protocol errors, exceptions caught at the edge). May be called
  // from any worker thread concurrently. Empty = silent.
  std::function<void(std::string_view)> log;
};

struct ServerStats {
  std::uint64_t connections = 0;       // accepted in total
  std::uint64_t active = 0;            // open now
  std::uint64_t refused = 0;           // closed at accept (over max_connections)
  std::uint64_t accept_errors = 0;     // failed accepts (EMFILE & co.), each backed off
  std::uint64_t protocol_errors = 0;   // closed for a malformed/oversized/unknown packet
  std::uint64_t timeouts = 0;          // closed by idle/packet/decision timeout
  std::uint64_t exceptions = 0;        // closed by an exception caught at the edge
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> create(Filter& filter, ServerOptions opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound endpoints, ports resolved (useful with port 0).
  std::vector<std::string> endpoints() const;
  void start();
  void stop();
  void wait();
  ServerStats stats() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace backstop::milter
