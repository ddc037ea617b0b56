#include "policyd/server.h"

#include <atomic>
#include <optional>
#include <string>

#include "net/server.h"

namespace backstop::policyd {
namespace {

using net::Clock;
using net::kTok;

}  // namespace

struct Server::Impl {
  Handler& handler;
  ServerOptions opts;
  std::unique_ptr<net::Server> net;
  std::atomic<std::uint64_t> requests{0}, protocol_errors{0}, decision_timeouts{0};

  Impl(Handler& h, ServerOptions o) : handler(h), opts(std::move(o)) {}
  void warn(std::string_view m) {
    if (opts.log) opts.log(m);
  }

  // Runs the Handler and waits (without blocking the loop) for its answer.
  // nullopt if it did not answer within decision_timeout.
  asio::awaitable<std::optional<std::string>> decide(std::shared_ptr<net::Conn> c, const Request& req) {
    // The answer arrives on the connection's own executor, so no lock.
    auto answer = std::make_shared<std::optional<std::string>>();
    std::weak_ptr<net::Conn> weak = c;
    auto ex = c->sock.get_executor();
    auto called = std::make_shared<std::atomic<bool>>(false);
    Reply reply = [weak, ex, called, answer](std::string action) {
      if (called->exchange(true)) return;
      asio::post(ex, [weak, answer, a = std::move(action)]() mutable {
        *answer = std::move(a);
        if (auto cc = weak.lock()) cc->wake.cancel();
      });
    };
    handler.check(req, std::move(reply));
    const auto until = Clock::now() + opts.decision_timeout;
    while (!*answer && !c->closing() && Clock::now() < until) {
      c->wake.expires_at(until);
      co_await c->wake.async_wait(kTok);
    }
    co_return std::move(*answer);
  }

  asio::awaitable<void> serve(std::shared_ptr<net::Conn> c) {
    auto busy = std::make_shared<bool>(false);  // a request is being answered
    c->busy = [busy] { return *busy; };
    RequestParser parser;
    std::vector<char> buf(kReadChunk);
    bool eof = false;
    c->set_timeout(opts.idle_timeout);
    while (!eof) {
      if (net->draining() || c->closing()) break;
      const bool had_bytes = parser.buffered() > 0;
      auto [ec, n] = co_await c->sock.async_read_some(asio::buffer(buf), kTok);
      if (ec == asio::error::eof) {
        eof = true;
      } else if (ec) {
        break;
      } else {
        parser.feed(std::string_view(buf.data(), n));
        // The whole-request deadline starts with a request's first byte and
        // is not extended by later reads.
        if (!had_bytes && parser.buffered() > 0) c->set_timeout(opts.request_timeout);
      }
      bool stop = false;
      bool answered = false;
      for (;;) {
        auto r = eof ? parser.finish() : parser.next();
        if (!r) {
          protocol_errors.fetch_add(1);
          warn("policy connection closed: " + r.error().to_string());
          stop = true;
          break;
        }
        if (!r->has_value()) break;
        requests.fetch_add(1);
        *busy = true;
        c->clear_deadline();
        auto answer = co_await decide(c, **r);
        if (!answer) {
          if (!c->closing()) {
            decision_timeouts.fetch_add(1);
            warn("policy handler did not answer in time; closing without a reply");
          }
          stop = true;
          break;
        }
        const bool written = co_await c->write(format_response(*answer), opts.request_timeout);
        *busy = false;
        answered = true;
        if (!written || eof) {  // Exim: one answer, then close
          stop = true;
          break;
        }
      }
      if (stop) break;
      if (parser.buffered() == 0) {
        c->set_timeout(opts.idle_timeout);
      } else if (answered) {  // the next request's first bytes came with this read
        c->set_timeout(opts.request_timeout);
      }
    }
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  stop();
  wait();
}

Result<std::unique_ptr<Server>> Server::create(Handler& handler, ServerOptions opts) {
  auto impl = std::make_unique<Impl>(handler, std::move(opts));
  net::ServerOptions no;
  no.name = "policy";
  no.listen = impl->opts.listen;
  no.threads = impl->opts.threads;
  no.unix_mode = impl->opts.unix_mode;
  no.max_connections = impl->opts.max_connections;
  // A busy connection is waiting for its answer, which comes within
  // decision_timeout; a drain need not wait longer than the answer.
  no.drain_timeout = impl->opts.decision_timeout;
  no.log = impl->opts.log;
  Impl* self = impl.get();
  auto n = net::Server::create(std::move(no), [self](std::shared_ptr<net::Conn> c) { return self->serve(std::move(c)); });
  BACKSTOP_TRY(n);
  impl->net = std::move(*n);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::vector<std::string> Server::endpoints() const { return impl_->net->endpoints(); }
void Server::start() { impl_->net->start(); }
void Server::stop() { impl_->net->stop(); }
void Server::wait() { impl_->net->wait(); }

ServerStats Server::stats() const {
  const net::ServerStats n = impl_->net->stats();
  ServerStats s;
  s.connections = n.connections;
  s.requests = impl_->requests.load();
  s.protocol_errors = impl_->protocol_errors.load();
  s.timeouts = n.timeouts + impl_->decision_timeouts.load();
  s.exceptions = n.exceptions;
  s.refused = n.refused;
  s.accept_errors = n.accept_errors;
  return s;
}

}  // namespace backstop::policyd
