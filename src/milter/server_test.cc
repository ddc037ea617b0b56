#include "milter/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "net/listen.h"

namespace backstop::milter {
namespace {

using Ms = std::chrono::milliseconds;

// A filter deciding at RCPT; EOM answers after `eom_delay` from another thread.
struct TestFilter : Filter {
  Ms eom_delay{0};
  std::atomic<int> opened{0};
  Needs needs() const override {
    Needs n;
    n.decide_rcpt = true;
    n.actions = act::kAddHdrs;
    return n;
  }
  struct H : Handler {
    TestFilter& f;
    explicit H(TestFilter& ff) : f(ff) {}
    void on_rcpt(const Context&, const Recipient& r, Decide d) override {
      if (r.address == "<throw@example.test>") throw std::runtime_error("handler bug");
      d(Action::cont());
    }
    void on_eom(const Context&, DecideEom d) override {
      EomResult r;
      r.mods.push_back(Modification::add_header("X-Server-Test", "yes"));
      if (f.eom_delay.count() == 0) return d(std::move(r));
      if (f.eom_delay.count() < 0) return;  // never answers
      std::thread([d, r, delay = f.eom_delay]() mutable {
        std::this_thread::sleep_for(delay);
        d(std::move(r));
      }).detach();
    }
  };
  std::unique_ptr<Handler> open() override {
    ++opened;
    return std::make_unique<H>(*this);
  }
};

int dial(const std::string& endpoint) {
  auto spec = net::parse_listen(endpoint);
  if (!spec) return -1;
  if (spec->kind == net::ListenSpec::Kind::kUnix) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", spec->path.c_str());
    return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? fd : (::close(fd), -1);
  }
  if (spec->host.find(':') != std::string::npos) {
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(spec->port);
    ::inet_pton(AF_INET6, spec->host.c_str(), &a.sin6_addr);
    return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? fd : (::close(fd), -1);
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(spec->port);
  ::inet_pton(AF_INET, spec->host.c_str(), &a.sin_addr);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? fd : (::close(fd), -1);
}

struct Client {
  int fd;
  ResponseDecoder dec;
  bool eof = false;
  explicit Client(const std::string& ep) : fd(dial(ep)) {}
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  void send(const Command& c) {
    std::string w;
    ASSERT_TRUE(encode(c, w).has_value());
    ASSERT_EQ(::send(fd, w.data(), w.size(), MSG_NOSIGNAL), static_cast<ssize_t>(w.size()));
  }
  std::optional<Response> read(Ms timeout = Ms(3000)) {
    for (;;) {
      auto r = dec.next();
      if (!r) return std::nullopt;
      if (r->has_value()) return std::move(**r);
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
      char buf[4096];
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        eof = true;
        return std::nullopt;
      }
      dec.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }
  bool closed(Ms timeout = Ms(3000)) {
    while (!eof) {
      if (!read(timeout) && !eof) return false;
    }
    return true;
  }
  std::uint32_t protocol = 0;  // the steps the server negotiated away or made no-reply
  void negotiate() {
    send(OptNeg{6, act::kAll, 0x1fffff});
    auto r = read();
    ASSERT_TRUE(r && std::holds_alternative<OptNegReply>(*r));
    protocol = std::get<OptNegReply>(*r).protocol;
  }
  void message() {
    send(Mail{{"<a@example.org>"}});
    send(Rcpt{{"<b@example.test>"}});
    auto r = read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, Response{Simple{rsp::kContinue}});
    send(Eob{});
    expect_eom_replies();
  }
  // TestFilter's end-of-message answer: its header, then continue.
  void expect_eom_replies() {
    auto h = read();
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(*h, (Response{AddHeader{"X-Server-Test", "yes"}}));
    auto f = read();
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(*f, Response{Simple{rsp::kContinue}});
  }
  // One reply, which must be continue.
  void expect_continue() {
    auto r = read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, Response{Simple{rsp::kContinue}});
  }
};

std::unique_ptr<net::Server> make(TestFilter& f, ServerOptions o) {
  o.net.threads = 2;
  auto s = make_server(f, std::move(o));
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().to_string());
  if (!s) return nullptr;
  (*s)->start();
  return std::move(*s);
}

TEST(MilterServer, InetV4V6AndUnixWithMode) {
  TestFilter f;
  std::string path = ::testing::TempDir() + "milter-test-" + std::to_string(::getpid()) + ".sock";
  ServerOptions o;
  o.net.listen = {"inet:127.0.0.1:0", "inet:[::1]:0", "unix:" + path};
  o.net.unix_mode = 0600;
  auto s = make(f, o);
  ASSERT_TRUE(s);
  auto eps = s->endpoints();
  ASSERT_EQ(eps.size(), 3u);
  EXPECT_EQ(eps[2], "unix:" + path);
  EXPECT_TRUE(eps[1].starts_with("inet:[::1]:"));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  for (const auto& ep : eps) {
    Client c(ep);
    ASSERT_GE(c.fd, 0) << ep;
    c.negotiate();
    c.message();
    c.message();  // the connection is reused
  }
  s->stop();
  s->wait();
  EXPECT_NE(::stat(path.c_str(), &st), 0);  // socket file removed
  EXPECT_EQ(s->stats().connections, 3u);
}

TEST(MilterServer, ProgressWhileTheEomDecisionWaits) {
  TestFilter f;
  f.eom_delay = Ms(400);
  ServerOptions o;
  o.net.listen = {"inet:127.0.0.1:0"};
  o.progress_interval = Ms(50);
  auto s = make(f, o);
  ASSERT_TRUE(s);
  Client c(s->endpoints()[0]);
  c.negotiate();
  c.send(Eob{});
  int progress = 0;
  for (;;) {
    auto r = c.read();
    ASSERT_TRUE(r.has_value());
    if (*r == Response{Simple{rsp::kProgress}}) {
      ++progress;
      continue;
    }
    EXPECT_EQ(*r, (Response{AddHeader{"X-Server-Test", "yes"}}));
    break;
  }
  EXPECT_GE(progress, 3);
  auto fin = c.read();
  ASSERT_TRUE(fin.has_value());
  EXPECT_EQ(*fin, Response{Simple{rsp::kContinue}});
}

// Postfix leaves Nagle's algorithm on for its milter socket and writes each
// event on its own, so an event written after one we do not answer waits
// for our ACK of that one. Were our ACKs delayed (the kernel does that once
// we have replied, in the hope of riding on the next reply), each message
// would wait for the delayed-ACK timer, 40 ms at least, several times.
TEST(MilterServer, AnMtaWithNagleOnIsNotHeldByDelayedAcks) {
  TestFilter f;
  ServerOptions o;
  o.net.listen = {"inet:127.0.0.1:0"};
  auto s = make(f, o);
  ASSERT_TRUE(s);
  Client c(s->endpoints()[0]);  // Nagle stays on, as on Postfix's socket
  ASSERT_NO_FATAL_FAILURE(c.negotiate());
  const std::uint32_t mask = c.protocol;
  // Sends an event; reads its reply unless it was negotiated away or no-reply.
  auto step = [&](const Command& cmd, std::uint32_t nr, std::uint32_t no) {
    if (mask & no) return;
    c.send(cmd);
    if (nr != 0 && (mask & nr)) return;
    auto r = c.read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, Response{Simple{rsp::kContinue}});
  };
  constexpr int kMessages = 20;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kMessages; ++i) {
    step(Mail{{"<a@example.org>"}}, proto::kNrMail, proto::kNoMail);
    step(Rcpt{{"<b@example.test>"}}, proto::kNrRcpt, proto::kNoRcpt);
    step(Data{}, proto::kNrData, proto::kNoData);
    for (int h = 0; h < 4; ++h) step(Header{"X-H" + std::to_string(h), "v"}, proto::kNrHdr, proto::kNoHdrs);
    step(Eoh{}, proto::kNrEoh, proto::kNoEoh);
    step(Body{"body\r\n"}, proto::kNrBody, proto::kNoBody);
    c.send(Eob{});
    c.expect_eom_replies();
    c.send(Abort{});
  }
  const auto per_message = (std::chrono::steady_clock::now() - t0) / kMessages;
  // Held ACKs cost 40 ms or more a message; unheld, well under 1 ms here
  // (20 ms leaves room for a slow, loaded or instrumented build).
  EXPECT_LT(per_message, Ms(20)) << "an MTA with Nagle on waits for our delayed ACKs";
}

// Arrival patterns an edge-triggered reader can get wrong: bytes written
// before the accept, several packets in one write, one byte at a time,
// packets larger than the read buffer, bytes that arrive while a decision is
// pending (the loop is suspended then). All must be read and answered.
std::string wire(std::initializer_list<Command> cmds) {
  std::string w;
  for (const auto& c : cmds) EXPECT_TRUE(encode(c, w).has_value());
  return w;
}

void send_raw(int fd, std::string_view w) {
  ASSERT_EQ(::send(fd, w.data(), w.size(), MSG_NOSIGNAL), static_cast<ssize_t>(w.size()));
}

TEST(MilterServer, PacketsWrittenBeforeTheAcceptAndInOneWrite) {
  for (const char* ep : {"inet:127.0.0.1:0", "unix"}) {
    TestFilter f;
    ServerOptions o;
    const std::string path = ::testing::TempDir() + "/bs-early-" + std::to_string(::getpid()) + ".sock";
    o.net.listen = {std::string(ep) == "unix" ? "unix:" + path : ep};
    auto s = make(f, o);
    ASSERT_TRUE(s);
    Client c(s->endpoints()[0]);
    send_raw(c.fd, wire({OptNeg{6, act::kAll, 0x1fffff}, Mail{{"<a@example.org>"}}, Rcpt{{"<b@example.test>"}}}));
    SCOPED_TRACE(ep);
    auto r = c.read();
    ASSERT_TRUE(r && std::holds_alternative<OptNegReply>(*r));
    c.expect_continue();
    ::unlink(path.c_str());
  }
}

TEST(MilterServer, OneByteAtATime) {
  TestFilter f;
  ServerOptions o;
  o.net.listen = {"inet:127.0.0.1:0"};
  auto s = make(f, o);
  ASSERT_TRUE(s);
  Client c(s->endpoints()[0]);
  const std::string w = wire({OptNeg{6, act::kAll, 0x1fffff}, Mail{{"<a@example.org>"}}, Rcpt{{"<b@example.test>"}}});
  for (char ch : w) {
    send_raw(c.fd, std::string_view(&ch, 1));
    std::this_thread::sleep_for(Ms(1));
  }
  auto r = c.read();
  ASSERT_TRUE(r && std::holds_alternative<OptNegReply>(*r));
  c.expect_continue();
}

TEST(MilterServer, PacketsLargerThanTheReadBuffer) {
  TestFilter f;
  ServerOptions o;
  o.net.listen = {"inet:127.0.0.1:0"};
  auto s = make(f, o);
  ASSERT_TRUE(s);
  Client c(s->endpoints()[0]);
  c.negotiate();
  // Three 300 KB body chunks, each bigger than the server's read buffer, back
  // to back (a blocking send: the server thread reads while it goes). RCPT
  // follows the bodies, so its reply proves they were all read.
  const std::string chunk(300 * 1024, 'x');
  send_raw(c.fd, wire({Mail{{"<a@example.org>"}}, Body{chunk}, Body{chunk}, Body{chunk}}));
  send_raw(c.fd, wire({Rcpt{{"<b@example.test>"}}, Eob{}}));
  c.expect_continue();
  c.expect_eom_replies();
}

TEST(MilterServer, BytesThatArriveWhileADecisionWaitsAreRead) {
  TestFilter f;
  f.eom_delay = Ms(200);
  ServerOptions o;
  o.net.listen = {"inet:127.0.0.1:0"};
  o.progress_interval = Ms(5000);  // no PROGRESS in this test
  auto s = make(f, o);
  ASSERT_TRUE(s);
  Client c(s->endpoints()[0]);
  c.negotiate();
  send_raw(c.fd, wire({Mail{{"<a@example.org>"}}}));
  send_raw(c.fd, wire({Rcpt{{"<b@example.test>"}}}));
  auto r1 = c.read();
  ASSERT_TRUE(r1.has_value());
  send_raw(c.fd, wire({Eob{}}));
  // The next message is written while the first one's decision is pending,
  // and nothing more follows until its RCPT is answered.
  std::this_thread::sleep_for(Ms(50));
  send_raw(c.fd, wire({Abort{}, Mail{{"<c@example.org>"}}, Rcpt{{"<d@example.test>"}}}));
  c.expect_eom_replies();
  auto r2 = c.read(Ms(2000));
  ASSERT_TRUE(r2.has_value()) << "the second message's RCPT was never read";
  EXPECT_EQ(*r2, Response{Simple{rsp::kContinue}});
}

TEST(MilterServer, AHandlerExceptionClosesOnlyThatConnection) {
  TestFilter f;
  ServerOptions o;
  o.net.listen = {"inet:127.0.0.1:0"};
  auto s = make(f, o);
  ASSERT_TRUE(s);
  Client bad(s->endpoints()[0]);
  bad.negotiate();
  bad.send(Rcpt{{"<throw@example.test>"}});
  EXPECT_TRUE(bad.closed());
  Client good(s->endpoints()[0]);
  good.negotiate();
  good.message();
  EXPECT_EQ(s->stats().exceptions, 1u);
}

TEST(MilterServer, DrainFinishesTheCurrentMessageAndRefusesNewConnections) {
  TestFilter f;
  f.eom_delay = Ms(500);
  ServerOptions o;
  o.net.listen = {"inet:127.0.0.1:0"};
  auto s = make(f, o);
  ASSERT_TRUE(s);
  const std::string ep = s->endpoints()[0];
  Client idle(ep);
  idle.negotiate();
  Client busy(ep);
  busy.negotiate();
  busy.send(Mail{{"<a@example.org>"}});
  busy.send(Eob{});  // decision pending for 500 ms
  std::this_thread::sleep_for(Ms(100));
  s->stop();
  EXPECT_TRUE(idle.closed(Ms(2000)));   // idle: closed at once
  auto h = busy.read();                 // busy: gets its answer first
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(*h, (Response{AddHeader{"X-Server-Test", "yes"}}));
  auto fin = busy.read();
  ASSERT_TRUE(fin.has_value());
  EXPECT_EQ(*fin, Response{Simple{rsp::kContinue}});
  EXPECT_TRUE(busy.closed(Ms(2000)));   // then closed
  Client late(ep);
  EXPECT_TRUE(late.fd < 0 || late.closed(Ms(2000)));  // listener gone
  s->wait();
}

TEST(MilterServer, ADecisionThatNeverComesIsAbandoned) {
  TestFilter f;
  f.eom_delay = Ms(-1);
  ServerOptions o;
  o.net.listen = {"inet:127.0.0.1:0"};
  o.progress_interval = Ms(50);
  o.decision_timeout = Ms(300);
  auto s = make(f, o);
  ASSERT_TRUE(s);
  Client c(s->endpoints()[0]);
  c.negotiate();
  c.send(Eob{});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed(Ms(3000)));  // PROGRESS packets, then the close
  EXPECT_GE(std::chrono::steady_clock::now() - t0, Ms(250));
  EXPECT_EQ(s->stats().timeouts, 1u);
}

TEST(MilterServer, ConnectionsOverTheLimitAreClosed) {
  TestFilter f;
  ServerOptions o;
  o.net.listen = {"inet:127.0.0.1:0"};
  o.net.max_connections = 2;
  auto s = make(f, o);
  ASSERT_TRUE(s);
  Client a(s->endpoints()[0]), b(s->endpoints()[0]);
  a.negotiate();
  b.negotiate();
  Client c(s->endpoints()[0]);
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(s->stats().refused, 1u);
  a.message();
}

TEST(MilterServer, BadEndpointsAreErrorsNotExceptions) {
  TestFilter f;
  for (const char* bad : {"tcp:127.0.0.1:1", "inet:127.0.0.1", "inet:host.example:25",
                          "inet:127.0.0.1:70000", "unix:"}) {
    ServerOptions o;
    o.net.listen = {bad};
    EXPECT_FALSE(make_server(f, o).has_value()) << bad;
  }
  // The same port twice: the second bind fails with a clear error.
  ServerOptions o;
  o.net.listen = {"inet:127.0.0.1:0"};
  auto first = make_server(f, o);
  ASSERT_TRUE(first.has_value());
  o.net.listen = {(*first)->endpoints()[0]};
  auto second = make_server(f, o);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), Code::kEnvironment);
}

}  // namespace
}  // namespace backstop::milter
