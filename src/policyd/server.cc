#include "policyd/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>

#include "common/thread_name.h"
#include "milter/listen.h"

namespace backstop::policyd {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTok = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};  // after EMFILE & co.

struct ConnBase {
  virtual ~ConnBase() = default;
  virtual void close() = 0;
  bool busy = false;  // a request is being answered
};

struct Worker {
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard{
      asio::make_work_guard(ioc)};
  std::unordered_set<ConnBase*> conns;
  std::thread thread;
};

}  // namespace

struct Server::Impl {
  Handler& handler;
  ServerOptions opts;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> tcp_acceptors;
  std::vector<std::unique_ptr<asio::local::stream_protocol::acceptor>> unix_acceptors;
  std::vector<std::string> unix_paths, bound;
  std::atomic<bool> draining{false}, started{false};
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> connections{0}, active{0}, requests{0}, protocol_errors{0},
      timeouts{0}, exceptions{0};

  Impl(Handler& h, ServerOptions o) : handler(h), opts(std::move(o)) {}
  void warn(std::string_view m) {
    if (opts.log) opts.log(m);
  }

  template <class Proto>
  struct Conn : ConnBase {
    typename Proto::socket sock;
    asio::steady_timer watchdog, wake;
    Clock::time_point deadline = Clock::time_point::max();
    bool done = false, timed_out = false;
    std::optional<std::string> answer;
    explicit Conn(typename Proto::socket s)
        : sock(std::move(s)), watchdog(sock.get_executor()), wake(sock.get_executor()) {}
    void close() override {
      asio::error_code ec;
      sock.close(ec);
    }
    void set_deadline(Clock::time_point tp) {
      const bool earlier = tp < deadline;
      deadline = tp;
      if (earlier) watchdog.cancel();
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

  // Runs the Handler and waits (without blocking the loop) for its answer.
  // Returns false if it did not answer within decision_timeout.
  template <class Proto>
  asio::awaitable<bool> decide(std::shared_ptr<Conn<Proto>> c, const Request& req) {
    c->answer.reset();
    std::weak_ptr<Conn<Proto>> weak = c;
    auto ex = c->sock.get_executor();
    auto called = std::make_shared<std::atomic<bool>>(false);
    Reply reply = [weak, ex, called](std::string action) {
      if (called->exchange(true)) return;
      asio::post(ex, [weak, a = std::move(action)]() mutable {
        if (auto cc = weak.lock()) {
          cc->answer = std::move(a);
          cc->wake.cancel();
        }
      });
    };
    handler.check(req, std::move(reply));
    const auto until = Clock::now() + opts.decision_timeout;
    while (!c->answer && Clock::now() < until) {
      c->wake.expires_at(until);
      co_await c->wake.async_wait(kTok);
    }
    co_return c->answer.has_value();
  }

  template <class Proto>
  asio::awaitable<void> serve(std::shared_ptr<Conn<Proto>> c) {
    RequestParser parser;
    std::vector<char> buf(kReadChunk);
    bool eof = false;
    try {
      while (!eof) {
        if (draining.load()) break;
        c->set_deadline(Clock::now() + (parser.buffered() ? opts.request_timeout : opts.idle_timeout));
        auto [ec, n] = co_await c->sock.async_read_some(asio::buffer(buf), kTok);
        if (ec == asio::error::eof) {
          eof = true;
        } else if (ec) {
          break;
        } else {
          parser.feed(std::string_view(buf.data(), n));
        }
        bool stop = false;
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
          c->busy = true;
          c->set_deadline(Clock::time_point::max());
          const bool answered = co_await decide<Proto>(c, **r);
          if (!answered) {
            timeouts.fetch_add(1);
            warn("policy handler did not answer in time; closing without a reply");
            stop = true;
            break;
          }
          std::string out = format_response(*c->answer);
          c->set_deadline(Clock::now() + opts.request_timeout);
          auto [wec, wn] = co_await asio::async_write(c->sock, asio::buffer(out), kTok);
          (void)wn;
          c->busy = false;
          if (wec) {
            stop = true;
            break;
          }
          if (eof) break;  // Exim: one answer, then close
        }
        if (stop) break;
      }
    } catch (const std::exception& e) {
      exceptions.fetch_add(1);
      warn(std::string("policy connection closed by exception: ") + e.what());
    } catch (...) {
      exceptions.fetch_add(1);
    }
    if (c->timed_out) timeouts.fetch_add(1);
    c->done = true;
    c->watchdog.cancel();
    c->close();
  }

  template <class Proto>
  void spawn(Worker& w, typename Proto::socket sock) {
    auto c = std::make_shared<Conn<Proto>>(std::move(sock));
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
      Worker& w = *workers[next.fetch_add(1) % workers.size()];
      auto [ec, sock] = co_await acc.async_accept(w.ioc, kTok);
      if (ec) {
        if (!acc.is_open() || ec == asio::error::operation_aborted) co_return;
        warn("policy accept failed: " + ec.message());
        pause.expires_after(kAcceptRetryDelay);
        co_await pause.async_wait(kTok);
        continue;
      }
      connections.fetch_add(1);
      if (draining.load() || active.load() >= opts.max_connections) {
        asio::error_code ignore;
        sock.close(ignore);
        continue;
      }
      if constexpr (std::is_same_v<Proto, asio::ip::tcp>) {
        asio::error_code ignore;
        sock.set_option(asio::ip::tcp::no_delay(true), ignore);
      }
      asio::post(w.ioc, [this, &w, s = std::move(sock)]() mutable { spawn<Proto>(w, std::move(s)); });
    }
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  stop();
  wait();
}

Result<std::unique_ptr<Server>> Server::create(Handler& handler, ServerOptions opts) {
  unsigned n = opts.threads ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
  if (opts.listen.empty()) return fail(Code::kInvalidArgument, "policy: no listen endpoint");
  auto impl = std::make_unique<Impl>(handler, std::move(opts));
  for (unsigned i = 0; i < n; ++i) impl->workers.push_back(std::make_unique<Worker>());
  asio::io_context& ioc0 = impl->workers[0]->ioc;
  for (const auto& spec_s : impl->opts.listen) {
    auto spec = milter::parse_listen(spec_s);
    BACKSTOP_TRY(spec);
    asio::error_code ec;
    if (spec->kind == milter::ListenSpec::Kind::kUnix) {
      struct stat st {};
      if (::lstat(spec->path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(spec->path.c_str());
      auto acc = std::make_unique<asio::local::stream_protocol::acceptor>(ioc0);
      asio::local::stream_protocol::endpoint ep(spec->path);
      if (acc->open(ep.protocol(), ec); !ec) acc->bind(ep, ec);
      if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) return fail(Code::kEnvironment, "policy: cannot listen on " + spec_s + ": " + ec.message());
      if (::chmod(spec->path.c_str(), impl->opts.unix_mode) != 0)
        return fail(Code::kEnvironment, "policy: cannot chmod " + spec->path);
      impl->unix_paths.push_back(spec->path);
      impl->bound.push_back(spec->to_string());
      impl->unix_acceptors.push_back(std::move(acc));
      continue;
    }
    std::string host = spec->host == "localhost" ? "127.0.0.1" : spec->host;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return fail(Code::kInvalidArgument, "policy: '" + spec->host + "' is not an IP address");
    asio::ip::tcp::endpoint ep(addr, spec->port);
    auto acc = std::make_unique<asio::ip::tcp::acceptor>(ioc0);
    if (acc->open(ep.protocol(), ec); !ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && addr.is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail(Code::kEnvironment, "policy: cannot listen on " + spec_s + ": " + ec.message());
    auto local = acc->local_endpoint(ec);
    milter::ListenSpec b = *spec;
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
      common::set_thread_name("bs-policy-" + std::to_string(i));
      for (;;) {
        try {
          w->ioc.run();
          return;
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
  asio::post(m.workers[0]->ioc, [&m] {
    asio::error_code ec;
    for (auto& a : m.tcp_acceptors) a->close(ec);
    for (auto& a : m.unix_acceptors) a->close(ec);
  });
  for (auto& wp : m.workers) {
    Worker* w = wp.get();
    asio::post(w->ioc, [w] {
      for (ConnBase* c : w->conns)
        if (!c->busy) c->close();  // busy ones close after their answer
      w->guard.reset();
    });
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
  return ServerStats{m.connections.load(), m.requests.load(), m.protocol_errors.load(),
                     m.timeouts.load(), m.exceptions.load()};
}

}  // namespace backstop::policyd
