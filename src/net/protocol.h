// What a protocol on the network front end implements against: the accepted
// connection (Conn), one coroutine per connection (ServeFn), and
// create_server(). Includes Asio: include it only from a protocol's .cc
// file, never from a public header of a component.
#pragma once

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

#include "common/result.h"
#include "net/server.h"

namespace backstop::net {

using Clock = std::chrono::steady_clock;
// One socket type for TCP and unix-domain connections: the protocols see the
// same stream; tcp() tells them apart where TCP options matter.
using Socket = asio::generic::stream_protocol::socket;
// Completion token: errors as values (asio::error_code first in a tuple).
inline constexpr auto kTok = asio::experimental::as_tuple(asio::use_awaitable);

// One accepted connection. Owned by the server (shared with the ServeFn).
class Conn {
 public:
  Conn(Socket sock, bool tcp);
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  Socket sock;
  // For the protocol's own waits (a pending decision, a progress interval):
  // close() cancels it, so a wait ends when the connection does.
  asio::steady_timer wake;
  // Asked by a drain: true while cutting the connection would lose an answer
  // (inside a message, a request being answered). Unset = never busy.
  std::function<bool()> busy;

  bool tcp() const { return tcp_; }
  // The connection is closed (and counted as a timeout) once tp has passed.
  // Clock::time_point::max() = no deadline. Cheap when tp is not earlier than
  // the current deadline (no timer operation).
  void set_deadline(Clock::time_point tp);
  void set_timeout(std::chrono::milliseconds d) { set_deadline(Clock::now() + d); }
  void clear_deadline() { set_deadline(Clock::time_point::max()); }
  // Closes the socket; pending reads and writes end with an error.
  void close();
  bool closing() const { return closing_; }
  // The connection was closed by its deadline (or mark_timed_out()).
  bool timed_out() const { return timed_out_; }
  void mark_timed_out() { timed_out_ = true; }
  // Writes all of data, bounded by now + timeout; restores the previous
  // deadline afterwards. False when the peer failed or was too slow (the
  // connection is then closed).
  asio::awaitable<bool> write(std::string_view data, std::chrono::milliseconds timeout);

 private:
  friend struct Server::Impl;
  // Holds c until the connection is done: the watchdog may outlive serving.
  static asio::awaitable<void> watch(std::shared_ptr<Conn> c);
  asio::steady_timer watchdog_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool tcp_;
  bool done_ = false;
  bool closing_ = false;
  bool timed_out_ = false;
};

// The protocol: serves one connection until it returns. Runs on the
// connection's worker; may throw (the connection is then closed and the
// exception counted). The server closes the socket after it returns.
using ServeFn = std::function<asio::awaitable<void>(std::shared_ptr<Conn>)>;

// Binds every endpoint of opts.listen; nothing is served before start().
Result<std::unique_ptr<Server>> create_server(ServerOptions opts, ServeFn serve);

// The server of a protocol object: P has `ServerOptions`-typed `opts.net`,
// `asio::awaitable<void> serve(std::shared_ptr<Conn>)` and `Server* net`,
// which is set to the created server (the server shares ownership of P).
template <class P>
Result<std::unique_ptr<Server>> create_server_for(std::shared_ptr<P> proto) {
  ServerOptions opts = proto->opts.net;
  auto s = create_server(std::move(opts), [proto](std::shared_ptr<Conn> c) { return proto->serve(std::move(c)); });
  if (s) proto->net = s->get();
  return s;
}

}  // namespace backstop::net
