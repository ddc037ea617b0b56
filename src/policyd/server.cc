#include "policyd/server.h"

#include <atomic>
#include <optional>
#include <string>

#include "net/protocol.h"

namespace backstop::policyd {
namespace {

using net::Clock;
using net::kTok;

struct Protocol {
  Handler& handler;
  ServerOptions opts;
  net::Server* net = nullptr;  // set once created; outlives every connection

  Protocol(Handler& h, ServerOptions o) : handler(h), opts(std::move(o)) {}

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
          net->note_protocol_error(r.error().to_string());
          stop = true;
          break;
        }
        if (!r->has_value()) break;
        net->note_request();
        *busy = true;
        c->clear_deadline();
        auto answer = co_await decide(c, **r);
        if (!answer) {
          if (!c->closing()) net->note_timeout("handler did not answer in time; closing without a reply");
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

}  // namespace

Result<std::unique_ptr<net::Server>> make_server(Handler& handler, ServerOptions opts) {
  return net::create_server_for(std::make_shared<Protocol>(handler, std::move(opts)));
}

}  // namespace backstop::policyd
