#include "net/protocol.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <thread>
#include <unordered_set>

#include "common/ip.h"
#include "common/thread_name.h"
#include "net/listen.h"

namespace backstop::net {
namespace {

// How often a drain checks whether its worker's connections are all gone.
constexpr std::chrono::milliseconds kDrainPoll{20};

using Acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol>;
using Endpoint = asio::generic::stream_protocol::endpoint;

struct Worker {
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard{
      asio::make_work_guard(ioc)};
  std::unordered_set<Conn*> conns;  // touched only on this worker's thread
  std::function<void()> quiesce;    // LoopState::quiesce; set and used on this worker's thread
  std::thread thread;
};

struct Listener {
  std::unique_ptr<Acceptor> acc;
  bool tcp = true;
};

}  // namespace

Conn::Conn(Socket s, bool tcp)
    : sock(std::move(s)), wake(sock.get_executor()), watchdog_(sock.get_executor()), tcp_(tcp) {}

void Conn::set_deadline(Clock::time_point tp) {
  const bool earlier = tp < deadline_;
  deadline_ = tp;
  if (earlier) watchdog_.cancel();  // re-arm the watchdog for the nearer time
}

void Conn::close() {
  closing_ = true;
  asio::error_code ec;
  sock.close(ec);
  wake.cancel();
}

asio::awaitable<void> Conn::watch(std::shared_ptr<Conn> c) {
  while (!c->done_) {
    c->watchdog_.expires_at(c->deadline_);
    co_await c->watchdog_.async_wait(kTok);
    if (c->done_) break;
    if (Clock::now() >= c->deadline_) {
      c->timed_out_ = true;
      c->close();
      break;
    }
  }
}

asio::awaitable<bool> Conn::write(std::string_view data, std::chrono::milliseconds timeout) {
  const auto before = deadline_;
  set_deadline(Clock::now() + timeout);
  auto [ec, n] = co_await asio::async_write(sock, asio::buffer(data.data(), data.size()), kTok);
  (void)n;
  if (ec || closing_) {
    close();
    co_return false;
  }
  set_deadline(before);
  co_return true;
}

struct Server::Impl {
  ServerOptions opts;
  ServeFn serve_fn;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<Listener> listeners;
  std::vector<std::string> unix_paths;
  std::vector<std::string> bound;
  std::atomic<bool> draining{false};
  std::atomic<bool> started{false};
  std::atomic<std::size_t> next{0};
  std::vector<ip::Network> allow_networks;
  std::atomic<Clock::rep> last_denied_log{0};
  std::atomic<std::uint64_t> connections{0}, active{0}, refused{0}, denied{0}, accept_errors{0}, requests{0},
      protocol_errors{0}, timeouts{0}, exceptions{0};

  Impl(ServerOptions o, ServeFn f) : opts(std::move(o)), serve_fn(std::move(f)) {}

  void warn(std::string_view msg) const {
    if (opts.log) opts.log(msg);
  }

  asio::awaitable<void> run_conn(std::shared_ptr<Conn> c) {
    try {
      co_await serve_fn(c);
    } catch (const std::exception& e) {
      exceptions.fetch_add(1);
      warn(opts.name + " connection closed by exception: " + e.what());
    } catch (...) {
      exceptions.fetch_add(1);
      warn(opts.name + " connection closed by an unknown exception");
    }
    if (c->timed_out_) timeouts.fetch_add(1);
    c->done_ = true;
    c->watchdog_.cancel();
    c->close();
  }

  // Whether the peer of a just-accepted socket may talk to us; `who` names
  // it for the log.
  template <class AnySocket>
  bool admit(AnySocket& sock, bool tcp, std::string& who) const {
    if (tcp) {
      if (allow_networks.empty()) return true;
      asio::error_code ec;
      auto remote = sock.remote_endpoint(ec);
      if (ec) return false;
      asio::ip::tcp::endpoint te;
      if (remote.size() > te.capacity()) return false;
      std::memcpy(te.data(), remote.data(), remote.size());
      te.resize(remote.size());
      who = te.address().to_string();
      auto a = ip::parse(who);
      if (!a) return false;
      for (const auto& n : allow_networks)
        if (ip::contains(n, *a)) return true;
      return false;
    }
    if (opts.allow_uids.empty() && opts.allow_gids.empty()) return true;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
    who = "uid " + std::to_string(cred.uid) + " gid " + std::to_string(cred.gid);
    if (cred.uid == 0) return true;
    for (unsigned u : opts.allow_uids)
      if (cred.uid == u) return true;
    for (unsigned g : opts.allow_gids)
      if (cred.gid == g) return true;
    return false;
  }

  void spawn(Worker& w, Socket sock, bool tcp) {
    auto c = std::make_shared<Conn>(std::move(sock), tcp);
    w.conns.insert(c.get());
    asio::co_spawn(w.ioc, Conn::watch(c), asio::detached);
    asio::co_spawn(w.ioc, run_conn(c), [this, &w, c](std::exception_ptr) {
      w.conns.erase(c.get());
      active.fetch_sub(1);
    });
  }

  asio::awaitable<void> accept_loop(Listener& l) {
    Acceptor& acc = *l.acc;
    asio::steady_timer pause(acc.get_executor());
    auto backoff = kAcceptBackoffMin;
    while (acc.is_open()) {
      Worker& w = *workers[next.fetch_add(1) % workers.size()];
      auto [ec, sock] = co_await acc.async_accept(w.ioc, kTok);
      if (ec) {
        if (!acc.is_open() || ec == asio::error::operation_aborted) co_return;
        accept_errors.fetch_add(1);
        warn(opts.name + " accept failed: " + ec.message() + "; retrying in " +
             std::to_string(backoff.count()) + " ms");
        pause.expires_after(backoff);
        co_await pause.async_wait(kTok);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(kAcceptBackoffMax));
        continue;
      }
      backoff = kAcceptBackoffMin;
      connections.fetch_add(1);
      if (draining.load() || active.load() >= opts.max_connections) {
        refused.fetch_add(1);
        asio::error_code ignore;
        sock.close(ignore);
        continue;
      }
      if (std::string who; !admit(sock, l.tcp, who)) {
        denied.fetch_add(1);
        // At most one line a second: a flood of refused peers must not flood the log.
        const auto now = Clock::now().time_since_epoch().count();
        auto last = last_denied_log.load();
        if (now - last >= std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)).count() &&
            last_denied_log.compare_exchange_strong(last, now))
          warn(opts.name + ": connection from " + (who.empty() ? std::string("an unknown peer") : who) +
             " refused: not in the allowed " + (l.tcp ? "client networks" : "users"));
        asio::error_code ignore;
        sock.close(ignore);
        continue;
      }
      active.fetch_add(1);
      if (l.tcp && opts.tcp_nodelay) {
        asio::error_code ignore;
        sock.set_option(asio::ip::tcp::no_delay(true), ignore);
      }
      asio::post(w.ioc, [this, &w, s = std::move(sock), tcp = l.tcp]() mutable {
        spawn(w, std::move(s), tcp);
      });
    }
  }

  asio::awaitable<void> drain(Worker& w) {
    auto close_idle = [&w] {
      // Copy: close() may end a connection, which erases it from the set.
      std::vector<Conn*> now(w.conns.begin(), w.conns.end());
      for (Conn* c : now)
        if (!c->busy || !c->busy()) c->close();
    };
    asio::steady_timer t(w.ioc);
    close_idle();
    const auto until = Clock::now() + opts.drain_timeout;
    while (!w.conns.empty() && Clock::now() < until) {
      t.expires_after(kDrainPoll);
      co_await t.async_wait(kTok);
      close_idle();
    }
    std::vector<Conn*> left(w.conns.begin(), w.conns.end());
    for (Conn* c : left) c->close();
    if (auto quiesce = std::move(w.quiesce)) {
      try {
        quiesce();
      } catch (const std::exception& e) {
        warn(opts.name + " worker state at stop: " + e.what());
      }
    }
  }

  // Serves the sockets of `l` (which must not have been taken yet): one
  // acceptor each on worker 0, listening from now on. kEnvironment if a
  // descriptor cannot be taken or listen() fails (another socket bound to
  // the same address with SO_REUSEADDR listened first).
  Status adopt(Listening& l) {
    l.taken_ = true;
    asio::io_context& ioc0 = workers[0]->ioc;
    for (std::size_t i = 0; i < l.sockets_.size(); ++i) {
      const Listening::Socket& s = l.sockets_[i];
      Listener lis;
      lis.tcp = s.family != AF_UNIX;
      lis.acc = std::make_unique<Acceptor>(ioc0);
      asio::error_code ec;
      lis.acc->assign(asio::generic::stream_protocol(s.family, s.protocol), s.fd, ec);
      if (!ec) lis.acc->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        if (!lis.acc->is_open()) ::close(s.fd);
        for (std::size_t j = i + 1; j < l.sockets_.size(); ++j) ::close(l.sockets_[j].fd);
        for (const auto& p : l.unix_paths_) ::unlink(p.c_str());
        return fail(Code::kEnvironment, opts.name + ": cannot listen on " + l.endpoints_[i] + ": " + ec.message());
      }
      listeners.push_back(std::move(lis));
    }
    unix_paths = l.unix_paths_;
    bound = l.endpoints_;
    return {};
  }
};

namespace {

// One endpoint bound (not yet listening): its descriptor, its canonical text
// (port resolved) and the socket file it created ("" for TCP).
struct BoundOne {
  Listening::Socket sock;
  std::string endpoint;
  std::string unix_path;
};

Result<BoundOne> bind_one(const std::string& name, const std::string& spec_s, unsigned unix_mode) {
  auto spec = parse_listen(spec_s);
  BACKSTOP_TRY(spec);
  asio::io_context ioc;  // owns the acceptor only until its descriptor is released
  asio::error_code ec;
  Acceptor acc(ioc);
  BoundOne out;
  if (spec->kind == ListenSpec::Kind::kUnix) {
    struct stat st {};
    if (::lstat(spec->path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
      ::unlink(spec->path.c_str());  // a stale socket of an earlier run
    asio::local::stream_protocol::endpoint uep(spec->path);
    Endpoint ep(uep);
    if (acc.open(ep.protocol(), ec); !ec) acc.bind(ep, ec);
    if (ec) return fail(Code::kEnvironment, name + ": cannot listen on " + spec_s + ": " + ec.message());
    out.unix_path = spec->path;  // created: removed on any failure below
    if (::chmod(spec->path.c_str(), unix_mode) != 0) {
      Error e(Code::kEnvironment, name + ": cannot chmod " + spec->path + ": " + std::strerror(errno));
      ::unlink(out.unix_path.c_str());
      return unexpected<Error>(std::move(e));
    }
    out.endpoint = spec->to_string();
    out.sock.family = AF_UNIX;
  } else {
    std::string host = spec->host == "localhost" ? "127.0.0.1" : spec->host;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return fail(Code::kInvalidArgument, name + ": '" + spec->host + "' is not an IP address");
    asio::ip::tcp::endpoint tep(addr, spec->port);
    Endpoint ep(tep);
    if (acc.open(ep.protocol(), ec); !ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && addr.is_v6()) acc.set_option(asio::ip::v6_only(true), ec);
    if (!ec) acc.bind(ep, ec);
    if (ec) return fail(Code::kEnvironment, name + ": cannot listen on " + spec_s + ": " + ec.message());
    Endpoint local = acc.local_endpoint(ec);
    asio::ip::tcp::endpoint tlocal;
    if (!ec && local.size() <= tlocal.capacity()) {
      std::memcpy(tlocal.data(), local.data(), local.size());
      tlocal.resize(local.size());
    }
    ListenSpec b = *spec;
    b.host = tlocal.address().to_string();
    b.port = tlocal.port();
    out.endpoint = b.to_string();
    out.sock.family = addr.is_v6() ? AF_INET6 : AF_INET;
    out.sock.protocol = IPPROTO_TCP;
  }
  out.sock.fd = acc.release(ec);
  if (ec) {
    if (!out.unix_path.empty()) ::unlink(out.unix_path.c_str());
    return fail(Code::kEnvironment, name + ": cannot listen on " + spec_s + ": " + ec.message());
  }
  // Not inherited by programs the daemon runs (limits.sendmail).
  ::fcntl(out.sock.fd, F_SETFD, FD_CLOEXEC);
  return out;
}

}  // namespace

Result<std::shared_ptr<Listening>> Listening::bind(const std::string& name, const std::vector<std::string>& specs,
                                                   unsigned unix_mode) {
  if (specs.empty()) return fail(Code::kInvalidArgument, name + ": no listen endpoint");
  std::shared_ptr<Listening> l(new Listening());
  for (const auto& spec : specs) {
    auto one = bind_one(name, spec, unix_mode);
    if (!one) return unexpected<Error>(one.error());  // l's destructor releases the earlier ones
    l->sockets_.push_back(one->sock);
    l->endpoints_.push_back(std::move(one->endpoint));
    if (!one->unix_path.empty()) l->unix_paths_.push_back(std::move(one->unix_path));
  }
  return l;
}

Listening::~Listening() {
  if (taken_) return;
  for (const auto& s : sockets_) ::close(s.fd);
  for (const auto& p : unix_paths_) ::unlink(p.c_str());
}

ServerOptions defaults(std::string name, std::chrono::milliseconds drain_timeout) {
  ServerOptions o;
  o.name = std::move(name);
  o.drain_timeout = drain_timeout;
  return o;
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  stop();
  wait();
}

Result<std::unique_ptr<Server>> create_server(ServerOptions opts, ServeFn serve) {
  const unsigned n = opts.threads ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
  if (!opts.bound && opts.listen.empty()) return fail(Code::kInvalidArgument, opts.name + ": no listen endpoint");
  if (opts.bound && opts.bound->served())
    return fail(Code::kInvalidArgument, opts.name + ": its listening sockets are served by another server");
  if (opts.max_connections == 0) return fail(Code::kInvalidArgument, opts.name + ": max_connections is 0");
  std::vector<ip::Network> nets;
  for (const auto& text : opts.allow_networks) {
    auto net = ip::parse_network(text);
    if (!net) return fail(Code::kInvalidArgument, opts.name + ": allowed client network: " + net.error().message());
    nets.push_back(*net);
  }
  std::shared_ptr<Listening> bound = std::move(opts.bound);
  if (!bound) {
    auto b = Listening::bind(opts.name, opts.listen, opts.unix_mode);
    BACKSTOP_TRY(b);
    bound = std::move(*b);
  }
  auto impl = std::make_unique<Server::Impl>(std::move(opts), std::move(serve));
  impl->allow_networks = std::move(nets);
  for (unsigned i = 0; i < n; ++i) impl->workers.push_back(std::make_unique<Worker>());
  BACKSTOP_TRY(impl->adopt(*bound));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::vector<std::string> Server::endpoints() const { return impl_->bound; }

void Server::start() {
  Impl& m = *impl_;
  if (m.started.exchange(true)) return;
  asio::io_context& ioc0 = m.workers[0]->ioc;
  for (auto& l : m.listeners) asio::co_spawn(ioc0, m.accept_loop(l), asio::detached);
  for (std::size_t i = 0; i < m.workers.size(); ++i) {
    Worker* w = m.workers[i].get();
    w->thread = std::thread([&m, w, i] {
      common::set_thread_name("bs-" + m.opts.name + "-" + std::to_string(i));
      std::shared_ptr<void> state;
      if (m.opts.loop_state) {
        try {
          LoopState ls = m.opts.loop_state(w->ioc);
          state = std::move(ls.keep);
          w->quiesce = std::move(ls.quiesce);
        } catch (const std::exception& e) {
          m.warn(m.opts.name + " worker state: " + e.what());
        }
      }
      for (;;) {  // the edge of last resort: a loop thread never dies from an exception
        try {
          w->ioc.run();
          return;
        } catch (const std::exception& e) {
          m.exceptions.fetch_add(1);
          m.warn(m.opts.name + " worker caught: " + e.what());
        } catch (...) {
          m.exceptions.fetch_add(1);
          m.warn(m.opts.name + " worker caught an unknown exception");
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
    for (auto& l : m.listeners) l.acc->close(ec);
  });
  for (auto& wp : m.workers) {
    Worker* w = wp.get();
    asio::co_spawn(w->ioc, m.drain(*w), asio::detached);
    asio::post(w->ioc, [w] { w->guard.reset(); });
  }
}

void Server::wait() {
  Impl& m = *impl_;
  if (!m.started.load()) {
    // Never started: the loops never ran; run them once so pending handlers
    // (the acceptors' closes, drains) complete and sockets are released.
    for (auto& w : m.workers) {
      w->guard.reset();
      w->ioc.run();
    }
  }
  for (auto& w : m.workers)
    if (w->thread.joinable()) w->thread.join();
  for (const auto& p : m.unix_paths) ::unlink(p.c_str());
  m.unix_paths.clear();
}

bool Server::draining() const { return impl_->draining.load(); }

ServerStats Server::stats() const {
  const Impl& m = *impl_;
  ServerStats st;
  st.connections = m.connections.load();
  st.active = m.active.load();
  st.refused = m.refused.load();
  st.denied = m.denied.load();
  st.accept_errors = m.accept_errors.load();
  st.requests = m.requests.load();
  st.protocol_errors = m.protocol_errors.load();
  st.timeouts = m.timeouts.load();
  st.exceptions = m.exceptions.load();
  return st;
}

void Server::note_exception(std::string_view what) {
  impl_->exceptions.fetch_add(1);
  impl_->warn(impl_->opts.name + ": " + std::string(what));
}

void Server::note_protocol_error(std::string_view what) {
  impl_->protocol_errors.fetch_add(1);
  impl_->warn(impl_->opts.name + " connection closed: " + std::string(what));
}

void Server::note_timeout(std::string_view what) {
  impl_->timeouts.fetch_add(1);
  impl_->warn(impl_->opts.name + ": " + std::string(what));
}

void Server::note_request() { impl_->requests.fetch_add(1); }

void Server::warn(std::string_view what) const { impl_->warn(what); }

}  // namespace backstop::net
