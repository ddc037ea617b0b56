// Postfix policy delegation server (check_policy_service), also callable by
// Exim's ${readsocket}, on the shared network front end (net/server.h:
// listeners, worker pool, connection cap, accept back-off, drain).
//
// Per connection: requests are answered in order, one at a time; the
// connection stays open for the next request (Postfix reuses it). When the
// client half-closes (Exim), a pending complete request (even one missing the
// final empty line) is answered and then the connection is closed. On a
// malformed or oversized request nothing is answered and the connection is
// closed, as SMTPD_POLICY_README asks (Postfix retries, then applies
// smtpd_policy_service_default_action). A Handler that does not answer within
// decision_timeout gets the same treatment. Exceptions are caught at the
// connection's edge.
//
// Deadlines: a request must arrive whole within request_timeout of its first
// byte (a client trickling bytes does not extend it); the answer must be
// taken by the client within request_timeout; between requests a connection
// may idle for idle_timeout.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "policyd/request.h"

namespace backstop::policyd {

// Answer for one request: the access(5) action, e.g. "DUNNO", "550 5.7.1 text".
// Call exactly once, from any thread.
using Reply = std::function<void(std::string action)>;

class Handler {
 public:
  virtual ~Handler() = default;
  // May answer before returning or later (e.g. after a DNS lookup).
  virtual void check(const Request& request, Reply reply) = 0;
};

// Postfix waits smtpd_policy_service_max_idle (300 s) before closing an idle
// policy connection itself; we wait a little longer so Postfix closes first.
inline constexpr std::chrono::seconds kIdleTimeout{330};
// A request, from its first byte to its last, must arrive within this, and an
// answer must be taken within it (slowloris guard).
inline constexpr std::chrono::seconds kRequestTimeout{30};
// Postfix gives up after smtpd_policy_service_timeout (100 s); an answer later
// than that is useless, so close well before and let Postfix retry.
inline constexpr std::chrono::seconds kDecisionTimeout{60};
inline constexpr std::size_t kMaxConnections = 4096;
inline constexpr std::size_t kReadChunk = 4096;  // a Postfix request is ~600 bytes

struct ServerOptions {
  std::vector<std::string> listen{"inet:127.0.0.1:8896"};
  unsigned threads = 0;  // 0 = one per core
  unsigned unix_mode = 0660;
  std::chrono::milliseconds idle_timeout = kIdleTimeout;
  std::chrono::milliseconds request_timeout = kRequestTimeout;
  std::chrono::milliseconds decision_timeout = kDecisionTimeout;
  std::size_t max_connections = kMaxConnections;
  std::function<void(std::string_view)> log;  // warnings; any thread
};

struct ServerStats {
  std::uint64_t connections = 0, requests = 0, protocol_errors = 0, timeouts = 0, exceptions = 0;
  std::uint64_t refused = 0, accept_errors = 0;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> create(Handler& handler, ServerOptions opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  std::vector<std::string> endpoints() const;
  void start();
  // Closes the listeners and every connection once its current request is
  // answered; then the threads end (wait()).
  void stop();
  void wait();
  ServerStats stats() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace backstop::policyd
