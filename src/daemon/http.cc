#include "daemon/http.h"

#include "net/http_head.h"
#include "net/listen.h"
#include "net/protocol.h"

namespace backstop::daemon {
namespace {

std::string response(int code, std::string_view reason, std::string_view type, std::string_view body) {
  std::string out = "HTTP/1.0 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
  out += "Content-Type: " + std::string(type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  out += body;
  return out;
}

class Endpoint final : public HttpEndpoint {
 public:
  Endpoint(HttpHandlers h, HttpOptions o) : handlers_(std::move(h)), opts_(std::move(o)) {}
  ~Endpoint() override {
    if (server_) {
      server_->stop();
      server_->wait();
    }
  }

  Status listen(const std::string& text) {
    std::shared_ptr<net::Listening> bound = opts_.bound;
    if (!bound) {
      auto b = HttpEndpoint::bind(text);
      BACKSTOP_TRY(b);
      bound = std::move(*b);
    }
    net::ServerOptions so;
    so.name = "http";
    so.bound = std::move(bound);
    so.threads = 1;  // scrapes are rare and cheap
    so.max_connections = opts_.max_connections;
    so.drain_timeout = opts_.request_timeout;
    so.log = opts_.log;
    so.allow_networks = opts_.allow_clients;
    auto s = net::create_server(std::move(so), [this](std::shared_ptr<net::Conn> c) { return serve(std::move(c)); });
    if (!s) return fail(s.error().code(), "metrics.listen: " + s.error().message());
    server_ = std::move(*s);
    auto eps = server_->endpoints();
    if (auto b = net::parse_listen(eps.front())) port_ = b->port;
    server_->start();
    return {};
  }

  std::uint16_t port() const override { return port_; }
  void stop() override {
    if (server_) server_->stop();
  }
  std::uint64_t refused() const override { return server_ ? server_->stats().refused : 0; }

 private:
  std::string answer(std::string_view head) const {
    auto line = net::parse_request_line(head);
    if (!line) return response(400, "Bad Request", "text/plain", "bad request\n");
    if (line->method != "GET") return response(405, "Method Not Allowed", "text/plain", "GET only\n");
    if (line->target == "/metrics")
      return response(200, "OK", "text/plain; version=0.0.4", handlers_.metrics ? handlers_.metrics() : "");
    if (line->target == "/healthz") {
      const bool ok = !handlers_.healthy || handlers_.healthy();
      return ok ? response(200, "OK", "text/plain", "ok\n")
                : response(503, "Service Unavailable", "text/plain", "unhealthy\n");
    }
    return response(404, "Not Found", "text/plain", "not found\n");
  }

  asio::awaitable<void> serve(std::shared_ptr<net::Conn> c) {
    std::string head;
    // One deadline for the whole exchange: a client trickling its head does
    // not extend it.
    c->set_timeout(opts_.request_timeout);
    auto [ec, n] = co_await asio::async_read_until(c->sock, asio::dynamic_buffer(head, kMaxRequestHead),
                                                   "\r\n\r\n", net::kTok);
    (void)n;
    if (c->timed_out() || c->closing()) co_return;
    const std::string reply = ec ? response(400, "Bad Request", "text/plain", "bad request\n")
                                 : answer(head);
    auto [wec, wn] = co_await asio::async_write(c->sock, asio::buffer(reply), net::kTok);
    (void)wn;
    if (wec) co_return;
    asio::error_code ignored;
    c->sock.shutdown(net::Socket::shutdown_both, ignored);
  }

  HttpHandlers handlers_;
  HttpOptions opts_;
  std::unique_ptr<net::Server> server_;
  std::uint16_t port_ = 0;
};

}  // namespace

Result<std::shared_ptr<net::Listening>> HttpEndpoint::bind(const std::string& listen) {
  auto hp = net::split_host_port(listen);
  if (!hp) return fail(Code::kInvalidArgument, "metrics.listen: " + hp.error().message());
  net::ListenSpec spec;
  spec.host = hp->first;
  spec.port = hp->second;
  auto l = net::Listening::bind("http", {spec.to_string()}, 0);
  if (!l) return fail(l.error().code(), "metrics.listen: " + l.error().message());
  return l;
}

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::start(const std::string& listen, HttpHandlers handlers,
                                                          HttpOptions options) {
  auto ep = std::make_unique<Endpoint>(std::move(handlers), std::move(options));
  BACKSTOP_TRY(ep->listen(listen));
  return std::unique_ptr<HttpEndpoint>(std::move(ep));
}

}  // namespace backstop::daemon
