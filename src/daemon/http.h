// A minimal HTTP/1.0 endpoint for Prometheus `/metrics` and `/healthz`, on
// the shared network front end (net/server.h) with one thread of its own.
// GET only; one request per connection; request head bounded by
// kMaxRequestHead; a client that has not sent its head and taken the answer
// within kRequestTimeout is dropped; at most max_connections at once (more
// are closed at accept), so idle connections cannot use up the daemon's file
// descriptors. Thread-safety: the callbacks run on the endpoint's thread.
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
#include "net/server.h"

namespace backstop::daemon {

// A request head larger than this is not a metrics scrape.
inline constexpr std::size_t kMaxRequestHead = 8 * 1024;
// Scrapers answer within milliseconds; anything slower is a stuck client.
// The deadline covers the whole exchange: head read and answer written.
inline constexpr std::chrono::seconds kRequestTimeout{10};
// A few scrapers and health checkers at once; far below the milter's share
// of file descriptors.
inline constexpr std::size_t kMaxHttpConnections = 64;

struct HttpHandlers {
  std::function<std::string()> metrics;  // body of /metrics
  std::function<bool()> healthy;         // /healthz: 200 "ok" or 503 "unhealthy"
};

struct HttpOptions {
  std::size_t max_connections = kMaxHttpConnections;
  std::chrono::milliseconds request_timeout = kRequestTimeout;
  std::function<void(std::string_view)> log;  // warnings (accept errors)
  std::vector<std::string> allow_clients;      // CIDRs; empty = any client
  // The socket bound ahead by HttpEndpoint::bind(); when set, start() serves
  // it and does not bind its `listen` argument.
  std::shared_ptr<net::Listening> bound;
};

class HttpEndpoint {
 public:
  // Listens on "HOST:PORT" ("[::1]:9895" for IPv6; port 0 picks one) and
  // serves at once. kInvalidArgument on bad syntax, kEnvironment when the
  // address cannot be bound.
  // Binds "HOST:PORT" ahead of start() (net::Listening), for a daemon that
  // binds before it drops privileges. Errors as start().
  static Result<std::shared_ptr<net::Listening>> bind(const std::string& listen);
  static Result<std::unique_ptr<HttpEndpoint>> start(const std::string& listen, HttpHandlers handlers,
                                                     HttpOptions options = {});
  // Stops and joins the endpoint's thread.
  virtual ~HttpEndpoint() = default;
  virtual std::uint16_t port() const = 0;
  // Stops accepting; in-flight requests get up to request_timeout.
  virtual void stop() = 0;
  virtual std::uint64_t refused() const = 0;  // connections closed at accept (over the cap)
};

}  // namespace backstop::daemon
