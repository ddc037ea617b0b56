#include "policyd/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace backstop::policyd {
namespace {

// BATV-like test handler: bounces to an untagged recipient are refused.
struct TestHandler : Handler {
  std::atomic<int> calls{0};
  bool async = false;
  bool never = false;
  void check(const Request& r, Reply reply) override {
    ++calls;
    if (never) return;  // never answers
    std::string action = "DUNNO";
    if (r.get("sender").value_or("x").empty() &&
        !r.get("recipient").value_or("").starts_with("prvs="))
      action = "550 5.7.1 invalid or missing BATV tag";
    if (async) {
      std::thread([reply, action] { reply(action); }).detach();
    } else {
      reply(action);
    }
  }
};

int dial(const std::string& endpoint) {
  if (endpoint.starts_with("unix:")) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", endpoint.substr(5).c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
    return fd;
  }
  auto port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  return fd;
}

// Reads until `want` bytes, EOF or 3 s; returns what was read and whether EOF was seen.
std::pair<std::string, bool> read_some(int fd, std::size_t want, int ms = 3000) {
  std::string out;
  while (out.size() < want) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return {out, false};
    char buf[1024];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return {out, true};
    out.append(buf, static_cast<std::size_t>(n));
  }
  return {out, false};
}

void send_all(int fd, std::string_view s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size())); }

const std::string kBounce = "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=\nrecipient=user@example.test\n\n";
const std::string kTagged = "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=\nrecipient=prvs=0123456789=user@example.test\n\n";
const std::string kReject = "action=550 5.7.1 invalid or missing BATV tag\n\n";
const std::string kDunno = "action=DUNNO\n\n";

struct Fixture : ::testing::Test {
  TestHandler h;
  std::unique_ptr<net::Server> s;
  void start(ServerOptions o = {}) {
    if (o.net.listen.empty()) o.net.listen = {"inet:127.0.0.1:0"};
    o.net.threads = 2;
    auto r = make_server(h, o);
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    s = std::move(*r);
    s->start();
  }
};

TEST_F(Fixture, PostfixReusesTheConnection) {
  start();
  int fd = dial(s->endpoints()[0]);
  ASSERT_GE(fd, 0);
  send_all(fd, kBounce);
  EXPECT_EQ(read_some(fd, kReject.size()).first, kReject);
  send_all(fd, kTagged);
  EXPECT_EQ(read_some(fd, kDunno.size()).first, kDunno);
  send_all(fd, kBounce + kTagged);  // pipelined: answered in order
  EXPECT_EQ(read_some(fd, kReject.size() + kDunno.size()).first, kReject + kDunno);
  ::close(fd);
  EXPECT_EQ(h.calls.load(), 4);
}

TEST_F(Fixture, EximReadsocketAnswerThenClose) {
  start();
  int fd = dial(s->endpoints()[0]);
  ASSERT_GE(fd, 0);
  send_all(fd, "request=smtpd_access_policy\nsender=\nrecipient=user@example.test\n");  // no blank line
  ::shutdown(fd, SHUT_WR);
  auto [got, eof] = read_some(fd, 1000);
  EXPECT_EQ(got, kReject);
  EXPECT_TRUE(eof);
  ::close(fd);
}

TEST_F(Fixture, MalformedRequestClosesWithoutAnswer) {
  start();
  int fd = dial(s->endpoints()[0]);
  send_all(fd, "this line has no equals sign\n\n");
  auto [got, eof] = read_some(fd, 1);
  EXPECT_EQ(got, "");
  EXPECT_TRUE(eof);
  ::close(fd);
  int fd2 = dial(s->endpoints()[0]);
  send_all(fd2, std::string(kMaxLineBytes + 10, 'a'));
  auto [got2, eof2] = read_some(fd2, 1);
  EXPECT_EQ(got2, "");
  EXPECT_TRUE(eof2);
  ::close(fd2);
  EXPECT_EQ(s->stats().protocol_errors, 2u);
}

TEST_F(Fixture, AsyncHandlerFromAnotherThread) {
  h.async = true;
  start();
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 16; ++i) {
    ts.emplace_back([&] {
      int fd = dial(s->endpoints()[0]);
      for (int k = 0; k < 10; ++k) {
        send_all(fd, k % 2 ? kBounce : kTagged);
        if (read_some(fd, (k % 2 ? kReject : kDunno).size()).first == (k % 2 ? kReject : kDunno)) ++ok;
      }
      ::close(fd);
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 160);
}

TEST_F(Fixture, HandlerThatNeverAnswersIsCutOff) {
  h.never = true;
  ServerOptions o;
  o.decision_timeout = std::chrono::milliseconds(200);
  start(o);
  int fd = dial(s->endpoints()[0]);
  send_all(fd, kBounce);
  auto [got, eof] = read_some(fd, 1);
  EXPECT_EQ(got, "");
  EXPECT_TRUE(eof);
  ::close(fd);
}

TEST_F(Fixture, UnixSocketWithModeAndIdleTimeout) {
  std::string path = ::testing::TempDir() + "policyd-test-" + std::to_string(::getpid()) + ".sock";
  ServerOptions o;
  o.net.listen = {"unix:" + path};
  o.net.unix_mode = 0600;
  o.idle_timeout = std::chrono::milliseconds(300);
  start(o);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int fd = dial("unix:" + path);
  ASSERT_GE(fd, 0);
  send_all(fd, kTagged);
  EXPECT_EQ(read_some(fd, kDunno.size()).first, kDunno);
  auto [got, eof] = read_some(fd, 1, 3000);  // idle: the server closes
  EXPECT_TRUE(eof);
  ::close(fd);
  s->stop();
  s->wait();
  EXPECT_NE(::stat(path.c_str(), &st), 0);  // socket file removed
}

TEST_F(Fixture, AStalledRequestIsCutOff) {
  ServerOptions o;
  o.request_timeout = std::chrono::milliseconds(300);
  start(o);
  int fd = dial(s->endpoints()[0]);
  send_all(fd, "request=smtpd_access_policy\nsender=");  // then nothing (slowloris)
  const auto t0 = std::chrono::steady_clock::now();
  auto [got, eof] = read_some(fd, 1);
  EXPECT_EQ(got, "");
  EXPECT_TRUE(eof);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
  ::close(fd);
  EXPECT_EQ(h.calls.load(), 0);
}

// The deadline covers the whole request: a client that sends one byte every
// 50 ms (each read well inside the deadline) is still cut at request_timeout.
TEST_F(Fixture, ATricklingRequestIsCutAtTheWholeRequestDeadline) {
  ServerOptions o;
  o.request_timeout = std::chrono::milliseconds(300);
  start(o);
  int fd = dial(s->endpoints()[0]);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string trickle = "request=smtpd_access_policy\nsender=someone@example.test\nrecipient=x@example.test\n";
  bool cut = false;
  for (char ch : trickle) {
    if (::send(fd, &ch, 1, MSG_NOSIGNAL) != 1) {
      cut = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {  // readable: closed by the server
      cut = true;
      break;
    }
  }
  EXPECT_TRUE(cut);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
  ::close(fd);
  EXPECT_EQ(h.calls.load(), 0);
  // The server counts the timeout as it closes: the client may see the close
  // first (a TSan run did), so the count is awaited.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (s->stats().timeouts < 1u && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(s->stats().timeouts, 1u);
}

TEST_F(Fixture, BadEndpointsAreErrors) {
  ServerOptions o;
  o.net.listen = {"tcp:1.2.3.4:5"};
  EXPECT_FALSE(make_server(h, o).has_value());
  o.net.listen = {"inet:not-an-ip:25"};
  EXPECT_FALSE(make_server(h, o).has_value());
}

TEST_F(Fixture, StopClosesIdleConnections) {
  start();
  int fd = dial(s->endpoints()[0]);
  send_all(fd, kTagged);
  EXPECT_EQ(read_some(fd, kDunno.size()).first, kDunno);
  s->stop();
  auto [got, eof] = read_some(fd, 1);
  EXPECT_TRUE(eof);
  s->wait();
  ::close(fd);
}

}  // namespace
}  // namespace backstop::policyd
