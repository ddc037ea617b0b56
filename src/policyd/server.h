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
#include "net/server.h"
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
inline constexpr std::size_t kReadChunk = 4096;  // a Postfix request is ~600 bytes

struct ServerOptions {
  // Listeners, threads (0 = one per core), socket mode, connection cap,
  // drain timeout and the warning log: the shared front end's options.
  net::ServerOptions net = net::defaults("policy", kDecisionTimeout);
  std::chrono::milliseconds idle_timeout = kIdleTimeout;
  std::chrono::milliseconds request_timeout = kRequestTimeout;
  std::chrono::milliseconds decision_timeout = kDecisionTimeout;
};

// The policy server for `handler` (not owned; it must outlive the server).
// Stats: requests counts requests handed to the Handler; protocol_errors,
// connections closed for a malformed or oversized request; timeouts include
// Handlers that did not answer in time. Errors as net's.
Result<std::unique_ptr<net::Server>> make_server(Handler& handler, ServerOptions opts);

}  // namespace backstop::policyd
