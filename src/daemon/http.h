// A minimal HTTP/1.0 endpoint for Prometheus `/metrics` and `/healthz`.
// GET only; one request per connection; request head bounded by
// kMaxRequestHead; a slow client is dropped after kRequestTimeout.
// Thread-safety: start/stop from the thread owning the io_context; the
// callbacks run on that io_context's threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"

namespace asio {
class io_context;
}

namespace backstop::daemon {

// A request head larger than this is not a metrics scrape.
inline constexpr std::size_t kMaxRequestHead = 8 * 1024;
// Scrapers answer within milliseconds; anything slower is a stuck client.
inline constexpr std::chrono::seconds kRequestTimeout{10};

struct HttpHandlers {
  std::function<std::string()> metrics;  // body of /metrics
  std::function<bool()> healthy;         // /healthz: 200 "ok" or 503 "unhealthy"
};

class HttpEndpoint {
 public:
  // Listens on "HOST:PORT" ("[::1]:9895" for IPv6; port 0 picks one).
  // kEnvironment when the address cannot be bound.
  static Result<std::unique_ptr<HttpEndpoint>> start(asio::io_context& io, const std::string& listen,
                                                     HttpHandlers handlers);
  virtual ~HttpEndpoint() = default;
  virtual std::uint16_t port() const = 0;
  // Stops accepting; in-flight requests finish.
  virtual void stop() = 0;
};

// Splits "HOST:PORT" / "[V6]:PORT". kInvalidArgument on bad syntax.
Result<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& text);

}  // namespace backstop::daemon
