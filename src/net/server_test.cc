#include "net/protocol.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <atomic>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

#include "net/listen.h"

namespace backstop::net {
namespace {

using namespace std::chrono_literals;

// Echoes each read back; closes on "quit". Busy while a line is incomplete.
asio::awaitable<void> echo(std::shared_ptr<Conn> c, std::chrono::milliseconds idle) {
  auto partial = std::make_shared<bool>(false);
  c->busy = [partial] { return *partial; };
  char buf[256];
  for (;;) {
    c->set_timeout(idle);
    auto [ec, n] = co_await c->sock.async_read_some(asio::buffer(buf), kTok);
    if (ec) co_return;
    std::string_view got(buf, n);
    if (got.starts_with("quit")) co_return;
    if (got.starts_with("throw")) throw std::runtime_error("asked to");
    *partial = got.back() != '\n';
    if (!co_await c->write(got, 1s)) co_return;
  }
}

struct Client {
  asio::io_context io;
  asio::generic::stream_protocol::socket s{io};
  explicit Client(const std::string& endpoint) {
    auto spec = parse_listen(endpoint);
    if (spec->kind == ListenSpec::Kind::kUnix) {
      s.connect(asio::local::stream_protocol::endpoint(spec->path));
    } else {
      s.connect(asio::ip::tcp::endpoint(asio::ip::make_address(spec->host), spec->port));
    }
  }
  // What the server sends back for msg; "" when the connection was closed.
  std::string roundtrip(const std::string& msg) {
    asio::error_code ec;
    asio::write(s, asio::buffer(msg), ec);
    if (ec) return "";
    char buf[256];
    std::size_t n = s.read_some(asio::buffer(buf), ec);
    return ec ? "" : std::string(buf, n);
  }
  bool closed_by_peer() {
    char c;
    asio::error_code ec;
    s.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }
};

std::unique_ptr<Server> make(ServerOptions o, std::chrono::milliseconds idle = 5s) {
  auto s = create_server(std::move(o), [idle](std::shared_ptr<Conn> c) { return echo(std::move(c), idle); });
  EXPECT_TRUE(s) << s.error().to_string();
  (*s)->start();
  return std::move(*s);
}

TEST(NetServer, ServesTcpAndUnixWithOneProtocol) {
  ServerOptions o;
  o.name = "t";
  const std::string path = (std::filesystem::temp_directory_path() / ("net-test-" + std::to_string(::getpid()) + ".sock")).string();
  o.listen = {"inet:127.0.0.1:0", "unix:" + path};
  o.threads = 2;
  auto s = make(o);
  auto eps = s->endpoints();
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_NE(eps[0], "inet:127.0.0.1:0");  // the port is resolved
  for (const auto& ep : eps) {
    Client c(ep);
    EXPECT_EQ(c.roundtrip("hello\n"), "hello\n") << ep;
  }
  s->stop();
  s->wait();
  EXPECT_FALSE(std::filesystem::exists(path));  // the socket file is removed
  EXPECT_EQ(s->stats().connections, 2u);
}

// Bound ahead (as serve does before dropping privileges), served later.
TEST(NetServer, ServesSocketsBoundAhead) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("net-ahead-" + std::to_string(::getpid()) + ".sock")).string();
  auto l = Listening::bind("t", {"inet:127.0.0.1:0", "unix:" + path}, 0640);
  ASSERT_TRUE(l) << l.error().to_string();
  ASSERT_EQ((*l)->endpoints().size(), 2u);
  EXPECT_NE((*l)->endpoints()[0], "inet:127.0.0.1:0");
  EXPECT_EQ((*l)->unix_paths(), std::vector<std::string>{path});
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  // Bound, not listening: a client is refused until a server serves them.
  for (const auto& ep : (*l)->endpoints()) {
    EXPECT_THROW(Client c(ep), asio::system_error) << ep;
  }
  ServerOptions o;
  o.name = "t";
  o.listen = {"inet:not-an-ip:1"};  // ignored: the bound sockets are served
  o.bound = *l;
  o.threads = 1;
  auto s = make(o);
  EXPECT_EQ(s->endpoints(), (*l)->endpoints());
  for (const auto& ep : s->endpoints()) {
    Client c(ep);
    EXPECT_EQ(c.roundtrip("ahead\n"), "ahead\n") << ep;
  }
  // One Listening serves one server.
  auto again = create_server(o, [](std::shared_ptr<Conn>) -> asio::awaitable<void> { co_return; });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kInvalidArgument);
  s->stop();
  s->wait();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(NetServer, SocketsBoundAheadAndNeverServedAreReleased) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("net-unserved-" + std::to_string(::getpid()) + ".sock")).string();
  std::string tcp;
  {
    auto l = Listening::bind("t", {"inet:127.0.0.1:0", "unix:" + path}, 0600);
    ASSERT_TRUE(l) << l.error().to_string();
    tcp = (*l)->endpoints()[0];
    EXPECT_TRUE(std::filesystem::exists(path));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  // The port is free again: a socket without SO_REUSEADDR can bind it.
  {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(parse_listen(tcp)->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    ::close(fd);
  }
  // A failure part-way releases what was bound before it.
  auto bad = Listening::bind("t", {"unix:" + path, "unix:/nonexistent-dir/x.sock"}, 0600);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kEnvironment);
  EXPECT_NE(bad.error().message().find("t: cannot listen on unix:/nonexistent-dir/x.sock"), std::string::npos)
      << bad.error().message();
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(Listening::bind("t", {}, 0600).error().code(), Code::kInvalidArgument);
}

TEST(NetServer, ListeningSocketsAreNotInheritedByPrograms) {
  auto l = Listening::bind("t", {"inet:127.0.0.1:0"}, 0600);
  ASSERT_TRUE(l) << l.error().to_string();
  ServerOptions o;
  o.bound = *l;
  o.threads = 1;
  auto s = create_server(o, [](std::shared_ptr<Conn>) -> asio::awaitable<void> { co_return; });
  ASSERT_TRUE(s);
  // The listener is the only socket this test has open on that port: find it
  // among the process's descriptors and check FD_CLOEXEC.
  const auto port = parse_listen((*s)->endpoints()[0])->port;
  bool found = false;
  for (int fd = 0; fd < 1024; ++fd) {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || a.ss_family != AF_INET) continue;
    if (ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port) != port) continue;
    found = true;
    EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  }
  EXPECT_TRUE(found);
}

TEST(NetServer, BadEndpointsAreErrorsNotCrashes) {
  ServerOptions o;
  o.listen = {"inet:not-an-ip:25"};
  auto a = create_server(o, [](std::shared_ptr<Conn>) -> asio::awaitable<void> { co_return; });
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Code::kInvalidArgument);
  o.listen = {"unix:/nonexistent-dir/x.sock"};
  auto b = create_server(o, [](std::shared_ptr<Conn>) -> asio::awaitable<void> { co_return; });
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), Code::kEnvironment);
  o.listen = {};
  EXPECT_FALSE(create_server(o, [](std::shared_ptr<Conn>) -> asio::awaitable<void> { co_return; }));
}

TEST(NetServer, ConnectionsOverTheCapAreClosedAtAccept) {
  ServerOptions o;
  o.listen = {"inet:127.0.0.1:0"};
  o.threads = 1;
  o.max_connections = 2;
  auto s = make(o);
  const auto ep = s->endpoints()[0];
  Client a(ep), b(ep);
  EXPECT_EQ(a.roundtrip("a\n"), "a\n");
  EXPECT_EQ(b.roundtrip("b\n"), "b\n");
  Client c(ep);  // the kernel completes the handshake; the server closes it
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_EQ(s->stats().refused, 1u);
  EXPECT_EQ(a.roundtrip("quit"), "");
  for (int i = 0; i < 100 && s->stats().active > 1; ++i) std::this_thread::sleep_for(10ms);
  Client d(ep);  // a slot is free again
  EXPECT_EQ(d.roundtrip("d\n"), "d\n");
}

TEST(NetServer, DeadlineClosesAndIsCounted) {
  ServerOptions o;
  o.listen = {"inet:127.0.0.1:0"};
  o.threads = 1;
  auto s = make(o, 100ms);
  Client c(s->endpoints()[0]);
  EXPECT_TRUE(c.closed_by_peer());
  for (int i = 0; i < 100 && s->stats().timeouts == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(s->stats().timeouts, 1u);
}

// A peer that stops reading: a reply larger than the socket buffers can take
// is cut at the write deadline instead of holding the connection forever.
TEST(NetServer, AWriteToAPeerThatStoppedReadingHasADeadline) {
  ServerOptions o;
  o.listen = {"inet:127.0.0.1:0"};
  o.threads = 1;
  auto written = std::make_shared<std::atomic<int>>(-1);
  auto s = create_server(o, [written](std::shared_ptr<Conn> c) -> asio::awaitable<void> {
    const std::string big(32 << 20, 'x');  // far more than the socket buffers hold
    const bool ok = co_await c->write(big, 300ms);
    *written = ok ? 1 : 0;
  });
  ASSERT_TRUE(s);
  (*s)->start();
  Client idle((*s)->endpoints()[0]);  // connects and never reads
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 300 && written->load() < 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(written->load(), 0) << "the write should have failed at its deadline";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  for (int i = 0; i < 100 && (*s)->stats().timeouts == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ((*s)->stats().timeouts, 1u);
}

TEST(NetServer, AnExceptionClosesOneConnectionOnly) {
  ServerOptions o;
  o.listen = {"inet:127.0.0.1:0"};
  o.threads = 1;
  std::atomic<int> warnings{0};
  o.log = [&](std::string_view) { ++warnings; };
  auto s = make(o);
  Client a(s->endpoints()[0]), b(s->endpoints()[0]);
  EXPECT_EQ(a.roundtrip("throw"), "");
  EXPECT_EQ(b.roundtrip("still\n"), "still\n");
  EXPECT_EQ(s->stats().exceptions, 1u);
  EXPECT_GE(warnings.load(), 1);
}

TEST(NetServer, DrainClosesIdleAndWaitsForBusyConnections) {
  ServerOptions o;
  o.listen = {"inet:127.0.0.1:0"};
  o.threads = 1;
  o.drain_timeout = 2s;
  auto s = make(o);
  Client idle(s->endpoints()[0]), busy(s->endpoints()[0]);
  EXPECT_EQ(idle.roundtrip("x\n"), "x\n");
  EXPECT_EQ(busy.roundtrip("half"), "half");  // no newline: busy
  std::thread stopper([&] {
    s->stop();
    s->wait();
  });
  EXPECT_TRUE(idle.closed_by_peer());
  // The busy one is still served until it finishes its line.
  EXPECT_EQ(busy.roundtrip(" done\n"), " done\n");
  stopper.join();
}

// A loop state with an operation of its own pending (here a timer that
// never fires; in the daemon, the standing read of a Redis connection):
// stop() asks it to quiesce once the worker has no connection left, and
// the loop then runs out of work, so wait() returns.
TEST(NetServer, StopQuiescesEachLoopsStateSoTheLoopsEnd) {
  struct Pending {
    explicit Pending(asio::io_context& io) : timer(io) {}
    asio::steady_timer timer;
  };
  std::atomic<int> made{0}, quiesced{0}, destroyed{0};
  ServerOptions o;
  o.listen = {"inet:127.0.0.1:0"};
  o.threads = 2;
  o.drain_timeout = 2s;
  o.loop_state = [&](asio::io_context& io) {
    auto p = std::shared_ptr<Pending>(new Pending(io), [&destroyed](Pending* q) {
      ++destroyed;
      delete q;
    });
    p->timer.expires_at(asio::steady_timer::time_point::max());
    p->timer.async_wait([](asio::error_code) {});
    ++made;
    Pending* raw = p.get();
    return LoopState{p, [raw, &quiesced] {
                       ++quiesced;
                       raw->timer.cancel();
                     }};
  };
  auto s = make(o);
  Client c(s->endpoints()[0]);
  EXPECT_EQ(c.roundtrip("x\n"), "x\n");
  auto stopped = std::async(std::launch::async, [&] {
    s->stop();
    s->wait();
  });
  const bool ended = stopped.wait_for(10s) == std::future_status::ready;
  EXPECT_TRUE(ended) << "a loop with a pending operation of its state never ended";
  if (!ended) std::abort();  // the server cannot be destroyed under a running loop
  EXPECT_EQ(made.load(), 2);
  EXPECT_EQ(quiesced.load(), 2);
  EXPECT_EQ(destroyed.load(), 2);
}

TEST(NetServer, TcpClientsOutsideTheAllowedNetworksAreClosedAtAccept) {
  ServerOptions o;
  o.listen = {"inet:127.0.0.1:0"};
  o.threads = 1;
  o.allow_networks = {"192.0.2.0/24"};
  auto s = make(o);
  Client denied(s->endpoints()[0]);
  EXPECT_TRUE(denied.closed_by_peer());
  EXPECT_EQ(s->stats().denied, 1u);
  // Either spelling of the loopback network admits 127.0.0.1.
  for (const char* allowed : {"127.0.0.0/8", "::ffff:127.0.0.0/104"}) {
    o.allow_networks = {"192.0.2.0/24", allowed};
    auto t = make(o);
    Client c(t->endpoints()[0]);
    EXPECT_EQ(c.roundtrip("in\n"), "in\n") << allowed;
    EXPECT_EQ(t->stats().denied, 0u);
  }
  o.allow_networks = {"not-a-network"};
  auto bad = create_server(o, [](std::shared_ptr<Conn>) -> asio::awaitable<void> { co_return; });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
}

// SO_PEERCRED: a peer whose uid is not allowed is closed at accept, even
// though the socket's mode lets it connect. Needs root to act as another user.
TEST(NetServer, UnixPeersOutsideTheAllowedUsersAreClosedAtAccept) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  constexpr unsigned kNobody = 65534;
  const std::string path = (std::filesystem::temp_directory_path() / ("net-cred-" + std::to_string(::getpid()) + ".sock")).string();
  ServerOptions o;
  o.listen = {"unix:" + path};
  o.unix_mode = 0666;
  o.threads = 1;
  auto as_nobody_is_served = [&](std::vector<unsigned> uids) {
    o.allow_uids = std::move(uids);
    auto s = make(o);
    pid_t pid = ::fork();
    if (pid == 0) {  // child: only system calls from here on
      if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(3);
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ::_exit(4);
      if (::send(fd, "hi\n", 3, MSG_NOSIGNAL) != 3) ::_exit(0);  // reset: refused
      char buf[8];
      ::_exit(::read(fd, buf, sizeof buf) == 3 ? 1 : 0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status));
    const int code = WEXITSTATUS(status);
    EXPECT_TRUE(code == 0 || code == 1) << "child failed: " << code;
    return std::pair{code == 1, s->stats().denied};
  };
  auto [served_any, denied_any] = as_nobody_is_served({});
  EXPECT_TRUE(served_any);
  EXPECT_EQ(denied_any, 0u);
  auto [served_other, denied_other] = as_nobody_is_served({12345});
  EXPECT_FALSE(served_other);
  EXPECT_EQ(denied_other, 1u);
  auto [served_nobody, denied_nobody] = as_nobody_is_served({kNobody});
  EXPECT_TRUE(served_nobody);
  EXPECT_EQ(denied_nobody, 0u);
}

// Descriptor exhaustion: accept fails with EMFILE; the server backs off
// instead of spinning or dying, and serves the waiting client once
// descriptors are free again.
TEST(NetServer, AcceptBacksOffWhenDescriptorsRunOut) {
  ServerOptions o;
  o.listen = {"inet:127.0.0.1:0"};
  o.threads = 1;
  auto s = make(o);
  Client waiting(s->endpoints()[0]);  // connected after exhaustion, below
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  // Close the client's socket and reconnect after the table is full: the
  // client's descriptor exists already, the server's accept needs a new one.
  waiting.s.close();
  waiting.s.open(asio::generic::stream_protocol(AF_INET, IPPROTO_TCP));
  std::vector<int> hog;
  for (;;) {
    int fd = ::open("/dev/null", O_RDONLY);
    if (fd < 0) break;
    hog.push_back(fd);
    if (hog.size() > 100000) break;
  }
  auto spec = parse_listen(s->endpoints()[0]);
  asio::error_code ec;
  waiting.s.connect(asio::ip::tcp::endpoint(asio::ip::make_address(spec->host), spec->port), ec);
  ASSERT_FALSE(ec) << ec.message();
  for (int i = 0; i < 200 && s->stats().accept_errors < 2; ++i) std::this_thread::sleep_for(10ms);
  const auto errors = s->stats().accept_errors;
  for (int fd : hog) ::close(fd);
  EXPECT_GE(errors, 2u);
  EXPECT_LT(errors, 50u);  // backed off, not a busy loop (about 2 s of waiting)
  EXPECT_EQ(waiting.roundtrip("back\n"), "back\n");
}

}  // namespace
}  // namespace backstop::net
