#include "milter/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <optional>
#include <string>
#include <system_error>

#include "net/protocol.h"

namespace backstop::milter {
namespace {

using net::Clock;
using net::kTok;

// Linux TCP_QUICKACK: leave the "interactive" (pingpong) mode in which the
// kernel delays ACKs (up to 40 ms) in the hope of piggy-backing them on an
// answer. The kernel enters that mode when we send data soon after receiving
// (tcp_pingpong_thresh), i.e. with every reply; out of it, each read of a
// small pushed segment acknowledges it at once. So the option is set once
// after each reply, not after every read (it was, at one system call per
// event the MTA sends).
using QuickAck = asio::detail::socket_option::boolean<IPPROTO_TCP, TCP_QUICKACK>;

// What a drain asks of a connection, shared by its coroutine and busy().
struct ConnState {
  std::shared_ptr<Session> session;
  bool writing = false;  // a reply not yet fully written
};

struct Protocol {
  Filter& filter;
  ServerOptions opts;
  net::Server* net = nullptr;  // set once created; outlives every connection

  Protocol(Filter& f, ServerOptions o) : filter(f), opts(std::move(o)) {}

  // Sends a reply without suspending when the socket takes it whole (replies
  // are small); only what the socket buffer cannot take waits, bounded by
  // write_timeout. False when the connection must end.
  asio::awaitable<bool> send(net::Conn& c, ConnState& st, const std::string& out) {
    asio::error_code wec;
    std::size_t sent = 0;
    while (sent < out.size()) {
      std::size_t k = c.sock.write_some(asio::buffer(out.data() + sent, out.size() - sent), wec);
      if (wec) break;
      sent += k;
    }
    if (!wec) co_return true;
    if (wec != asio::error::would_block && wec != asio::error::try_again) co_return false;
    st.writing = true;
    const bool ok = co_await c.write(std::string_view(out).substr(sent), opts.write_timeout);
    st.writing = false;
    co_return ok;
  }

  asio::awaitable<void> serve(std::shared_ptr<net::Conn> c) {
    auto st = std::make_shared<ConnState>();
    std::weak_ptr<net::Conn> weak = c;
    auto ex = c->sock.get_executor();
    net::Server* srv = net;
    Post post = [ex, weak, srv](std::function<void()> fn) {
      asio::post(ex, [fn = std::move(fn), weak, srv] {
        try {
          fn();
        } catch (...) {  // a Handler threw while resuming: drop that connection only
          srv->note_exception("a handler threw while resuming; connection closed");
          if (auto cc = weak.lock()) cc->close();
        }
      });
    };
    st->session = Session::create(filter, opts.session, std::move(post));
    Session& s = *st->session;
    s.set_wake([weak] {
      if (auto cc = weak.lock()) cc->wake.cancel();
    });
    c->busy = [st] {
      return st->writing || st->session->busy() || st->session->has_output();
    };

    // Exceptions are caught here rather than by the base so that the
    // session's shutdown (the filter's end-of-connection work) still runs.
    try {
      std::vector<char> buf(kReadChunk);
      bool partial = false;
      std::optional<Clock::time_point> waiting_since;
      // Replies are written with write_some first (send()), which must not block.
      asio::error_code nb_ec;
      c->sock.non_blocking(true, nb_ec);
      if (nb_ec) throw std::system_error(nb_ec);
      c->set_timeout(opts.idle_timeout);
      for (;;) {
        if (c->closing()) break;
        if (s.has_output()) {
          std::string out = s.take_output();
          if (!co_await send(*c, *st, out)) break;
          partial = false;
          // Events negotiated as no-reply (headers, body, ...) are small
          // writes the MTA sends back to back. Postfix leaves Nagle on for
          // its milter socket, so its next write waits for our ACK of the
          // last; in pingpong mode (entered by this reply) that ACK would
          // wait for the delayed-ACK timer: 40 ms per message (measured over
          // one Postfix session: 21 msgs/s, 239 with this).
          if (c->tcp()) {
            asio::error_code ignore;
            c->sock.set_option(QuickAck(true), ignore);
          }
          continue;
        }
        if (s.closed()) break;
        if (net->draining() && !s.busy()) break;
        if (s.waiting()) {
          if (!waiting_since) waiting_since = Clock::now();
          if (Clock::now() - *waiting_since >= opts.decision_timeout) {
            c->mark_timed_out();
            net->warn("milter decision not made in time; connection closed");
            break;
          }
          c->clear_deadline();
          c->wake.expires_after(opts.progress_interval);
          auto [ec] = co_await c->wake.async_wait(kTok);
          if (!ec && s.waiting()) s.send_progress();
          continue;
        }
        waiting_since.reset();
        if (s.buffered() == 0) {
          partial = false;
          c->set_timeout(opts.idle_timeout);
        } else if (!partial) {  // the clock of a packet starts with its first byte
          partial = true;
          c->set_timeout(opts.packet_timeout);
        }
        // (A wait for readiness followed by our own read was tried instead:
        // Asio re-arms the descriptor with EPOLL_CTL_MOD for every wait, which
        // costs more system calls than the EAGAIN read this does.)
        auto [ec, n] = co_await c->sock.async_read_some(asio::buffer(buf), kTok);
        if (ec) break;
        s.feed(std::string_view(buf.data(), n));
      }
    } catch (const std::exception& e) {
      net->note_exception(std::string("connection closed by exception: ") + e.what());
    } catch (...) {
      net->note_exception("connection closed by an unknown exception");
    }
    if (s.error()) net->note_protocol_error(s.error()->to_string());
    try {
      s.shutdown();
    } catch (...) {
      net->note_exception("a handler threw at connection shutdown");
    }
  }
};

}  // namespace

Result<std::unique_ptr<net::Server>> make_server(Filter& filter, ServerOptions opts) {
  return net::create_server_for(std::make_shared<Protocol>(filter, std::move(opts)));
}

}  // namespace backstop::milter
