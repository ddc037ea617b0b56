#include "daemon/http.h"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <charconv>

namespace backstop::daemon {
namespace {

using asio::ip::tcp;

std::string response(int code, std::string_view reason, std::string_view type, std::string_view body) {
  std::string out = "HTTP/1.0 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
  out += "Content-Type: " + std::string(type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  out += body;
  return out;
}

class Endpoint final : public HttpEndpoint, public std::enable_shared_from_this<Endpoint> {
 public:
  Endpoint(asio::io_context& io, HttpHandlers h) : io_(io), acceptor_(io), handlers_(std::move(h)) {}

  Status listen(const std::string& host, std::uint16_t port) {
    asio::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return fail(Code::kInvalidArgument, "metrics.listen: bad address '" + host + "'");
    tcp::endpoint ep(addr, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return fail(Code::kEnvironment,
                  "metrics.listen: cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
    }
    return {};
  }

  void run() {
    asio::co_spawn(io_, accept_loop(shared_from_this()), asio::detached);
  }

  std::uint16_t port() const override {
    asio::error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    return ec ? 0 : ep.port();
  }

  void stop() override {
    asio::post(io_, [self = shared_from_this()] {
      asio::error_code ec;
      self->acceptor_.close(ec);
    });
  }

 private:
  static asio::awaitable<void> accept_loop(std::shared_ptr<Endpoint> self) {
    for (;;) {
      auto [ec, sock] = co_await self->acceptor_.async_accept(asio::experimental::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) co_return;
      if (ec) continue;
      asio::co_spawn(self->io_, serve(self, std::move(sock)), asio::detached);
    }
  }

  static asio::awaitable<void> serve(std::shared_ptr<Endpoint> self, tcp::socket sock) {
    using namespace asio::experimental::awaitable_operators;
    std::string head;
    asio::steady_timer timer(self->io_, kRequestTimeout);
    auto read = asio::async_read_until(sock, asio::dynamic_buffer(head, kMaxRequestHead), "\r\n\r\n",
                                       asio::experimental::as_tuple(asio::use_awaitable));
    auto result = co_await (std::move(read) || timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
    std::string reply;
    if (result.index() == 1) co_return;  // timed out: drop
    auto [ec, n] = std::get<0>(result);
    if (ec) {
      reply = response(400, "Bad Request", "text/plain", "bad request\n");
    } else {
      std::string_view line(head.data(), head.find("\r\n"));
      if (line.starts_with("GET /metrics ") || line == "GET /metrics") {
        reply = response(200, "OK", "text/plain; version=0.0.4", self->handlers_.metrics());
      } else if (line.starts_with("GET /healthz ") || line == "GET /healthz") {
        bool ok = !self->handlers_.healthy || self->handlers_.healthy();
        reply = ok ? response(200, "OK", "text/plain", "ok\n")
                   : response(503, "Service Unavailable", "text/plain", "unhealthy\n");
      } else if (line.starts_with("GET ")) {
        reply = response(404, "Not Found", "text/plain", "not found\n");
      } else {
        reply = response(405, "Method Not Allowed", "text/plain", "GET only\n");
      }
    }
    co_await asio::async_write(sock, asio::buffer(reply), asio::experimental::as_tuple(asio::use_awaitable));
    asio::error_code ignored;
    sock.shutdown(tcp::socket::shutdown_both, ignored);
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  HttpHandlers handlers_;
};

}  // namespace

Result<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& text) {
  std::string host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail(Code::kInvalidArgument, "expected [IPv6]:PORT, got '" + text + "'");
    }
    host = text.substr(1, close - 1);
    port = std::string_view(text).substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return fail(Code::kInvalidArgument, "expected HOST:PORT, got '" + text + "'");
    host = text.substr(0, colon);
    port = std::string_view(text).substr(colon + 1);
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || p != port.data() + port.size() || port.empty() || value > 65535 || host.empty()) {
    return fail(Code::kInvalidArgument, "bad HOST:PORT '" + text + "'");
  }
  return std::pair{host, static_cast<std::uint16_t>(value)};
}

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::start(asio::io_context& io, const std::string& listen,
                                                          HttpHandlers handlers) {
  auto hp = split_host_port(listen);
  BACKSTOP_TRY(hp);
  auto ep = std::make_shared<Endpoint>(io, std::move(handlers));
  BACKSTOP_TRY(ep->listen(hp->first, hp->second));
  ep->run();
  // The io_context's pending operations keep the shared state alive; the
  // returned handle forwards to it.
  struct Handle final : HttpEndpoint {
    std::shared_ptr<Endpoint> ep;
    std::uint16_t port() const override { return ep->port(); }
    void stop() override { ep->stop(); }
  };
  auto h = std::make_unique<Handle>();
  h->ep = std::move(ep);
  return std::unique_ptr<HttpEndpoint>(std::move(h));
}

}  // namespace backstop::daemon
