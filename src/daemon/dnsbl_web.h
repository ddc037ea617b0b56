// The trap DNSBL's web page (dnsbl/web.h) on the shared network front end:
// `backstop serve` with dnsbl.web.listen set, and `backstop dnsbl web`.
// HTTP/1.0, one request per connection, GET and POST; the head is bounded by
// kMaxWebRequestHead and a POST body by net::kMaxFormBytes; a client gets
// kWebRequestTimeout for its whole request and answer; at most
// dnsbl.web.max_connections at once (more are closed at accept). Its own
// worker threads: a slow client or a slow store read never holds a mail
// connection, and nothing on this side answers mail.
// Thread-safety: start() from one thread; stop() from any.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "config/config.h"
#include "daemon/metrics.h"
#include "net/server.h"
#include "store/store.h"

namespace backstop::daemon {

// A request head larger than this is no browser's: they send 0.5-2 KiB.
inline constexpr std::size_t kMaxWebRequestHead = 8 * 1024;
// Whole exchange per connection: a person's browser sends at once; this only
// drops stuck and trickling clients.
inline constexpr std::chrono::seconds kWebRequestTimeout{10};
// Workers: two, so one slow store read does not hold every visitor.
inline constexpr unsigned kWebThreads = 2;

class DnsblWeb {
 public:
  // Binds dnsbl.web.listen ahead of start() (a daemon binds while
  // privileged). kInvalidArgument / kEnvironment naming the key.
  static Result<std::shared_ptr<net::Listening>> bind(const config::Config& cfg);
  // Serves dnsbl.web.* over `store` (not owned; outlives the result).
  // `metrics` may be null. `bound` null: binds dnsbl.web.listen itself.
  // `log` gets delistings, refusals and the server's warnings, raw (peer
  // bytes included): make them safe for the log it writes.
  // kEnvironment naming the key for an unreadable policy file; errors of
  // bind() otherwise.
  static Result<std::unique_ptr<DnsblWeb>> start(const config::Config& cfg, store::Store& store,
                                                 const Clock& clock, Metrics* metrics,
                                                 std::shared_ptr<net::Listening> bound,
                                                 std::function<void(std::string_view)> log);
  virtual ~DnsblWeb() = default;
  virtual std::string endpoint() const = 0;
  // Stops accepting and drains (requests in flight get kWebRequestTimeout).
  virtual void stop() = 0;
  virtual net::ServerStats stats() const = 0;
};

}  // namespace backstop::daemon
