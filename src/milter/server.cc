#include "milter/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <atomic>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include "common/thread_name.h"
#include <unordered_set>

#include "milter/listen.h"

namespace backstop::milter {
namespace {

using Clock = std::chrono::steady_clock;
// Asio 1.22 (Debian 12) has as_tuple under experimental.
constexpr auto kTok = asio::experimental::as_tuple(asio::use_awaitable);
// Pause after a failed accept (EMFILE, ENFILE): retrying at once would spin.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
// How often a drain checks whether its worker's connections are all gone.
constexpr std::chrono::milliseconds kDrainPoll{20};

// Linux TCP_QUICKACK: acknowledge what has arrived now instead of after the
// delayed-ACK timer (40 ms). The flag is not sticky, so it is set again after
// every read that leaves the MTA without a reply to wait for.
using QuickAck = asio::detail::socket_option::boolean<IPPROTO_TCP, TCP_QUICKACK>;

struct ConnBase {
  virtual ~ConnBase() = default;
  virtual void close() = 0;
  // Inside a message, waiting for a decision, or with a reply not yet fully
  // written: a drain must not close it yet.
  bool busy() const { return writing || (session && (session->busy() || session->has_output())); }
  std::shared_ptr<Session> session;
  bool writing = false;
};

struct Worker {
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard{
      asio::make_work_guard(ioc)};
  std::unordered_set<ConnBase*> conns;  // touched only on this worker's thread
  std::thread thread;
};

}  // namespace

struct Server::Impl {
  Filter& filter;
  ServerOptions opts;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> tcp_acceptors;
  std::vector<std::unique_ptr<asio::local::stream_protocol::acceptor>> unix_acceptors;
  std::vector<std::string> unix_paths;
  std::vector<std::string> bound;
  std::atomic<bool> draining{false};
  std::atomic<bool> started{false};
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> connections{0}, active{0}, refused{0}, protocol_errors{0},
      timeouts{0}, exceptions{0};

  Impl(Filter& f, ServerOptions o) : filter(f), opts(std::move(o)) {}

  void warn(std::string_view msg) {
    if (opts.log) opts.log(msg);
  }
  Worker& pick() { return *workers[next.fetch_add(1) % workers.size()]; }

  template <class Proto>
  struct Conn : ConnBase {
    typename Proto::socket sock;
    asio::steady_timer watchdog;
    asio::steady_timer wake;
    Clock::time_point deadline = Clock::time_point::max();
    bool done = false;
    bool closing = false;
    bool timed_out = false;

    explicit Conn(typename Proto::socket s)
        : sock(std::move(s)), watchdog(sock.get_executor()), wake(sock.get_executor()) {}
    void close() override {
      closing = true;
      asio::error_code ec;
      sock.close(ec);
      wake.cancel();
    }
    void set_deadline(Clock::time_point tp) {
      const bool earlier = tp < deadline;
      deadline = tp;
      if (earlier) watchdog.cancel();  // re-arm the watchdog for the nearer time
    }
  };

  template <class Proto>
  asio::awaitable<void> watch(std::shared_ptr<Conn<Proto>> c) {
    while (!c->done) {
      c->watchdog.expires_at(c->deadline);
      co_await c->watchdog.async_wait(kTok);
      if (c->done) break;
      if (Clock::now() >= c->deadline) {
        c->timed_out = true;
        c->close();
        break;
      }
    }
  }

  template <class Proto>
  asio::awaitable<void> serve(std::shared_ptr<Conn<Proto>> c) {
    Session& s = *c->session;
    std::vector<char> buf(kReadChunk);
    bool partial = false;
    std::optional<Clock::time_point> waiting_since;
    try {
      // Replies are written with write_some first (below), which must not block.
      asio::error_code nb_ec;
      c->sock.non_blocking(true, nb_ec);
      if (nb_ec) throw std::system_error(nb_ec);
      c->set_deadline(Clock::now() + opts.idle_timeout);
      for (;;) {
        if (c->closing) break;
        if (s.has_output()) {
          // The idle deadline also bounds a write to an MTA that stopped
          // reading; re-arming the watchdog per reply would cost a timer
          // cancel + wake-up per round trip.
          std::string out = s.take_output();
          // Replies are small: send at once without suspending; only what the
          // socket buffer cannot take waits for the reactor.
          asio::error_code wec;
          std::size_t sent = 0;
          while (sent < out.size()) {
            std::size_t k = c->sock.write_some(asio::buffer(out.data() + sent, out.size() - sent), wec);
            if (wec) break;
            sent += k;
          }
          if (wec == asio::error::would_block || wec == asio::error::try_again) {
            c->writing = true;
            auto [ec, n] = co_await asio::async_write(c->sock, asio::buffer(out.data() + sent, out.size() - sent),
                                                      kTok);
            c->writing = false;
            (void)n;
            if (ec) break;
          } else if (wec) {
            break;
          }
          partial = false;
          continue;
        }
        if (s.closed()) break;
        if (draining.load() && !s.busy()) break;
        if (s.waiting()) {
          if (!waiting_since) waiting_since = Clock::now();
          if (Clock::now() - *waiting_since >= opts.decision_timeout) {
            c->timed_out = true;
            warn("milter decision not made in time; connection closed");
            break;
          }
          c->set_deadline(Clock::time_point::max());
          c->wake.expires_after(opts.progress_interval);
          auto [ec] = co_await c->wake.async_wait(kTok);
          if (!ec && s.waiting()) s.send_progress();
          continue;
        }
        waiting_since.reset();
        if (s.buffered() == 0) {
          partial = false;
          c->set_deadline(Clock::now() + opts.idle_timeout);
        } else if (!partial) {  // the clock of a packet starts with its first byte
          partial = true;
          c->set_deadline(Clock::now() + opts.packet_timeout);
        }
        // (A wait for readiness followed by our own read was tried instead:
        // Asio re-arms the descriptor with EPOLL_CTL_MOD for every wait, which
        // costs more system calls than the EAGAIN read this does.)
        auto [ec, n] = co_await c->sock.async_read_some(asio::buffer(buf), kTok);
        if (ec) break;
        s.feed(std::string_view(buf.data(), n));
        if constexpr (std::is_same_v<Proto, asio::ip::tcp>) {
          // Events negotiated as no-reply (headers, body, ...) are small writes
          // the MTA sends back to back. Postfix leaves Nagle on for its milter
          // socket, so its next write waits for our ACK; with nothing to send
          // back, our ACK would wait 40 ms for the delayed-ACK timer: 40 ms per
          // message (measured over one Postfix session: 21 msgs/s, 239 with this).
          if (!s.has_output() && !s.waiting()) {
            asio::error_code ignore;
            c->sock.set_option(QuickAck(true), ignore);
          }
        }
      }
    } catch (const std::exception& e) {
      exceptions.fetch_add(1);
      warn(std::string("milter connection closed by exception: ") + e.what());
    } catch (...) {
      exceptions.fetch_add(1);
      warn("milter connection closed by an unknown exception");
    }
    if (s.error()) {
      protocol_errors.fetch_add(1);
      warn("milter connection closed: " + s.error()->to_string());
    }
    if (c->timed_out) timeouts.fetch_add(1);
    c->done = true;
    c->watchdog.cancel();
    try {
      s.shutdown();
    } catch (...) {
      exceptions.fetch_add(1);
    }
    asio::error_code ec;
    c->sock.close(ec);
  }

  template <class Proto>
  void spawn(Worker& w, typename Proto::socket sock) {
    auto c = std::make_shared<Conn<Proto>>(std::move(sock));
    std::weak_ptr<Conn<Proto>> weak = c;
    auto ex = w.ioc.get_executor();
    Impl* self = this;
    Post post = [ex, weak, self](std::function<void()> fn) {
      asio::post(ex, [fn = std::move(fn), weak, self] {
        try {
          fn();
        } catch (...) {  // a Handler threw while resuming: drop that connection only
          self->exceptions.fetch_add(1);
          if (auto cc = weak.lock()) cc->close();
        }
      });
    };
    try {
      c->session = Session::create(filter, opts.session, std::move(post));
    } catch (...) {
      exceptions.fetch_add(1);
      return;
    }
    c->session->set_wake([weak] {
      if (auto cc = weak.lock()) cc->wake.cancel();
    });
    w.conns.insert(c.get());
    active.fetch_add(1);
    asio::co_spawn(w.ioc, watch<Proto>(c), asio::detached);
    asio::co_spawn(w.ioc, serve<Proto>(c), [this, &w, c](std::exception_ptr) {
      w.conns.erase(c.get());
      active.fetch_sub(1);
    });
  }

  template <class Acceptor>
  asio::awaitable<void> accept_loop(Acceptor& acc) {
    using Proto = typename Acceptor::protocol_type;
    asio::steady_timer pause(acc.get_executor());
    while (acc.is_open()) {
      Worker& w = pick();
      auto [ec, sock] = co_await acc.async_accept(w.ioc, kTok);
      if (ec) {
        if (!acc.is_open() || ec == asio::error::operation_aborted) co_return;
        warn("milter accept failed: " + ec.message());
        pause.expires_after(kAcceptRetryDelay);
        co_await pause.async_wait(kTok);
        continue;
      }
      connections.fetch_add(1);
      if (draining.load() || active.load() >= opts.max_connections) {
        refused.fetch_add(1);
        asio::error_code ignore;
        sock.close(ignore);
        continue;
      }
      if constexpr (std::is_same_v<Proto, asio::ip::tcp>) {
        asio::error_code ignore;
        sock.set_option(asio::ip::tcp::no_delay(true), ignore);  // replies are tiny
      }
      asio::post(w.ioc, [this, &w, s = std::move(sock)]() mutable {
        spawn<Proto>(w, std::move(s));
      });
    }
  }

  asio::awaitable<void> drain(Worker& w) {
    asio::steady_timer t(w.ioc);
    for (ConnBase* c : w.conns)
      if (!c->busy()) c->close();
    const auto until = Clock::now() + opts.drain_timeout;
    while (!w.conns.empty() && Clock::now() < until) {
      t.expires_after(kDrainPoll);
      co_await t.async_wait(kTok);
      for (ConnBase* c : w.conns)
        if (!c->busy()) c->close();
    }
    for (ConnBase* c : w.conns) c->close();
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  stop();
  wait();
}

Result<std::unique_ptr<Server>> Server::create(Filter& filter, ServerOptions opts) {
  unsigned n = opts.threads ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
  if (opts.listen.empty()) return fail(Code::kInvalidArgument, "milter: no listen endpoint");
  auto impl = std::make_unique<Impl>(filter, std::move(opts));
  for (unsigned i = 0; i < n; ++i) impl->workers.push_back(std::make_unique<Worker>());
  asio::io_context& ioc0 = impl->workers[0]->ioc;
  for (const auto& spec_s : impl->opts.listen) {
    auto spec = parse_listen(spec_s);
    BACKSTOP_TRY(spec);
    asio::error_code ec;
    if (spec->kind == ListenSpec::Kind::kUnix) {
      struct stat st {};
      if (::lstat(spec->path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
        ::unlink(spec->path.c_str());  // a stale socket of an earlier run
      auto acc = std::make_unique<asio::local::stream_protocol::acceptor>(ioc0);
      asio::local::stream_protocol::endpoint ep(spec->path);
      if (acc->open(ep.protocol(), ec); !ec) acc->bind(ep, ec);
      if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) return fail(Code::kEnvironment, "milter: cannot listen on " + spec_s + ": " + ec.message());
      if (::chmod(spec->path.c_str(), impl->opts.unix_mode) != 0)
        return fail(Code::kEnvironment, "milter: cannot chmod " + spec->path);
      impl->unix_paths.push_back(spec->path);
      impl->bound.push_back(spec->to_string());
      impl->unix_acceptors.push_back(std::move(acc));
      continue;
    }
    std::string host = spec->host == "localhost" ? "127.0.0.1" : spec->host;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return fail(Code::kInvalidArgument, "milter: '" + spec->host + "' is not an IP address");
    asio::ip::tcp::endpoint ep(addr, spec->port);
    auto acc = std::make_unique<asio::ip::tcp::acceptor>(ioc0);
    if (acc->open(ep.protocol(), ec); !ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && addr.is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail(Code::kEnvironment, "milter: cannot listen on " + spec_s + ": " + ec.message());
    auto local = acc->local_endpoint(ec);
    ListenSpec b = *spec;
    b.host = local.address().to_string();
    b.port = local.port();
    impl->bound.push_back(b.to_string());
    impl->tcp_acceptors.push_back(std::move(acc));
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::vector<std::string> Server::endpoints() const { return impl_->bound; }

void Server::start() {
  Impl& m = *impl_;
  if (m.started.exchange(true)) return;
  asio::io_context& ioc0 = m.workers[0]->ioc;
  for (auto& a : m.tcp_acceptors) asio::co_spawn(ioc0, m.accept_loop(*a), asio::detached);
  for (auto& a : m.unix_acceptors) asio::co_spawn(ioc0, m.accept_loop(*a), asio::detached);
  for (std::size_t i = 0; i < m.workers.size(); ++i) {
    Worker* w = m.workers[i].get();
    w->thread = std::thread([&m, w, i] {
      common::set_thread_name("bs-milter-" + std::to_string(i));
      for (;;) {  // the edge of last resort: a loop thread never dies from an exception
        try {
          w->ioc.run();
          return;
        } catch (const std::exception& e) {
          m.exceptions.fetch_add(1);
          m.warn(std::string("milter worker caught: ") + e.what());
        } catch (...) {
          m.exceptions.fetch_add(1);
        }
      }
    });
  }
}

void Server::stop() {
  Impl& m = *impl_;
  if (m.draining.exchange(true)) return;
  asio::io_context& ioc0 = m.workers[0]->ioc;
  asio::post(ioc0, [&m] {
    asio::error_code ec;
    for (auto& a : m.tcp_acceptors) a->close(ec);
    for (auto& a : m.unix_acceptors) a->close(ec);
  });
  for (auto& wp : m.workers) {
    Worker* w = wp.get();
    asio::co_spawn(w->ioc, m.drain(*w), asio::detached);
    asio::post(w->ioc, [w] { w->guard.reset(); });
  }
}

void Server::wait() {
  for (auto& w : impl_->workers)
    if (w->thread.joinable()) w->thread.join();
  for (const auto& p : impl_->unix_paths) ::unlink(p.c_str());
  impl_->unix_paths.clear();
}

ServerStats Server::stats() const {
  const Impl& m = *impl_;
  return ServerStats{m.connections.load(), m.active.load(), m.refused.load(),
                     m.protocol_errors.load(), m.timeouts.load(), m.exceptions.load()};
}

}  // namespace backstop::milter
