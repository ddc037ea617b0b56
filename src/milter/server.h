// The milter server: the milter protocol on the shared network front end
// (net/server.h: listeners, worker pool, connection cap, accept back-off and
// the lifecycle start/stop/wait). Each connection runs one coroutine on its
// worker driving a Session. Limits: a connection idle between packets for
// idle_timeout, or stuck inside one packet for packet_timeout, is closed; a
// reply the MTA does not take within write_timeout closes the connection;
// connections over max_connections are closed at accept. Any exception from
// Asio or a Handler is caught at the connection's edge: the connection is
// closed (the MTA then applies milter_default_action) and the server goes on.
//
// Drain (stop()): idle connections are closed at once; busy ones (inside a
// message, waiting for a decision, or with a reply not yet written) finish
// their current message, at most drain_timeout, and are then closed.
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
#include "net/server.h"

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
// Socket read size per call: small enough to keep idle connections cheap
// (one buffer per connection), large enough that a 64 KiB body chunk takes
// four reads.
inline constexpr std::size_t kReadChunk = 16 * 1024;

struct ServerOptions {
  // Listeners, threads (0 = one per core), socket mode, connection cap,
  // drain timeout and the warning log: the shared front end's options.
  net::ServerOptions net = net::defaults("milter", kDrainTimeout);
  SessionConfig session;
  std::chrono::milliseconds idle_timeout = kIdleTimeout;
  std::chrono::milliseconds packet_timeout = kPacketTimeout;
  std::chrono::milliseconds progress_interval = kProgressInterval;
  std::chrono::milliseconds write_timeout = kWriteTimeout;
  std::chrono::milliseconds decision_timeout = kDecisionTimeout;
};

// The milter server for `filter` (not owned; it must outlive the server).
// Stats: protocol_errors counts connections closed for a malformed, oversized
// or unknown packet; requests stays 0 (the filter counts messages). Errors
// as net's: kInvalidArgument / kEnvironment for endpoints.
Result<std::unique_ptr<net::Server>> make_server(Filter& filter, ServerOptions opts);

}  // namespace backstop::milter
