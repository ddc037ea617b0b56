// Hostile MTA: raw-socket abuse of a running milter_testd (port in
// $MILTER_PORT, started by run.sh). Each case asserts the connection is closed
// (or answered per protocol) and that a normal conversation still works.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "milter/codec.h"

namespace backstop::milter {
namespace {

using Ms = std::chrono::milliseconds;

int port() {
  const char* p = std::getenv("MILTER_PORT");
  EXPECT_NE(p, nullptr) << "run by tests/milter_miltertest/run.sh with MILTER_PORT set";
  return p ? std::atoi(p) : 0;
}

class Conn {
 public:
  Conn() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Conn() { ::close(fd_); }
  bool ok() const { return ok_; }
  bool send_raw(std::string_view b) {
    while (!b.empty()) {
      auto n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      b.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  bool send(const Command& c) {
    std::string w;
    if (!encode(c, w)) return false;
    return send_raw(w);
  }
  void half_close() { ::shutdown(fd_, SHUT_WR); }
  // Next response, or nullopt on close/timeout (closed() tells which).
  std::optional<Response> read(Ms timeout = Ms(3000)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto r = dec_.next();
      if (!r) return std::nullopt;
      if (r->has_value()) return std::move(**r);
      auto left = std::chrono::duration_cast<Ms>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[4096];
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        return std::nullopt;
      }
      dec_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }
  // True if the peer closes within `timeout` (any pending replies are drained).
  bool closed_within(Ms timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!closed_) {
      auto left = std::chrono::duration_cast<Ms>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      if (::recv(fd_, buf, sizeof buf, 0) <= 0) closed_ = true;
    }
    return true;
  }
  bool negotiate() {
    if (!send(OptNeg{6, act::kAll, 0x1fffff})) return false;
    auto r = read();
    return r && std::holds_alternative<OptNegReply>(*r);
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  bool closed_ = false;
  ResponseDecoder dec_;
};

// A full message in milter_testd's default mode (NR everywhere except RCPT).
void normal_message(Conn& c, const std::string& rcpt = "<bob@example.test>") {
  ASSERT_TRUE(c.send(Connect{"client.example", '4', 4000, "192.0.2.7"}));
  ASSERT_TRUE(c.send(Helo{"client.example"}));
  ASSERT_TRUE(c.send(Mail{{"<alice@example.org>"}}));
  ASSERT_TRUE(c.send(Rcpt{{rcpt}}));
  auto r = c.read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, Response{Simple{rsp::kContinue}});
  ASSERT_TRUE(c.send(Header{"Subject", "normal"}));
  ASSERT_TRUE(c.send(Body{"hello\r\n"}));
  ASSERT_TRUE(c.send(Eob{}));
  auto h = c.read();
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(std::holds_alternative<AddHeader>(*h));
  auto f = c.read();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(*f, Response{Simple{rsp::kContinue}});
}

void daemon_still_serves() {
  Conn c;
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.negotiate());
  normal_message(c);
  ASSERT_TRUE(c.send(Quit{}));
  EXPECT_TRUE(c.closed_within(Ms(3000)));
}

void expect_closed_after(std::string_view bytes, bool negotiate_first) {
  Conn c;
  ASSERT_TRUE(c.ok());
  if (negotiate_first) {
    ASSERT_TRUE(c.negotiate());
  }
  c.send_raw(bytes);
  EXPECT_TRUE(c.closed_within(Ms(3000)));
  daemon_still_serves();
}

std::string raw_packet(std::uint32_t len, char cmd, std::string_view payload) {
  std::string s;
  for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>(len >> (8 * i)));
  s.push_back(cmd);
  s.append(payload);
  return s;
}

TEST(MilterHostile, UnknownCommandByteClosesTheConnection) {
  expect_closed_after(raw_packet(1, 'Z', ""), true);
}
TEST(MilterHostile, CommandBeforeNegotiationCloses) {
  expect_closed_after(raw_packet(3, 'H', std::string("x\0", 2)), false);
}
TEST(MilterHostile, ZeroLengthCloses) { expect_closed_after(std::string(4, '\0'), true); }
TEST(MilterHostile, TwoGiBLengthClosesWithoutWaitingForTheData) {
  expect_closed_after(std::string("\x80\0\0\0Lxxxx", 9), true);
}
TEST(MilterHostile, MaxUint32LengthCloses) { expect_closed_after("\xff\xff\xff\xffL", true); }
TEST(MilterHostile, FieldWithoutNulCloses) {
  expect_closed_after(raw_packet(8, 'L', "Subject"), true);
}
TEST(MilterHostile, LeftoverBytesClose) {
  expect_closed_after(raw_packet(6, 'H', std::string("a\0bcd", 5)), true);
}
TEST(MilterHostile, OptnegWithWrongLengthCloses) {
  expect_closed_after(raw_packet(9, 'O', std::string(8, '\0')), false);
}
TEST(MilterHostile, ConnectWithBadFamilyCloses) {
  expect_closed_after(raw_packet(4, 'C', std::string("h\0Z", 3)), true);
}
TEST(MilterHostile, RandomGarbageCloses) {
  std::mt19937 rng(42);
  for (int round = 0; round < 5; ++round) {
    std::string g(4096, '\0');
    for (auto& ch : g) ch = static_cast<char>(rng());
    g[0] = '\x7f';  // a huge length, whatever follows
    expect_closed_after(g, round % 2 == 0);
  }
}
TEST(MilterHostile, TruncatedPacketThenEofCloses) {
  Conn c;
  ASSERT_TRUE(c.negotiate());
  std::string w;
  ASSERT_TRUE(encode(Command{Header{"Subject", "truncated"}}, w));
  c.send_raw(std::string_view(w).substr(0, w.size() / 2));
  c.half_close();
  EXPECT_TRUE(c.closed_within(Ms(3000)));
  daemon_still_serves();
}
TEST(MilterHostile, HeaderLargerThan64KiBIsAccepted) {
  Conn c;
  ASSERT_TRUE(c.negotiate());
  ASSERT_TRUE(c.send(Mail{{"<a@example.org>"}}));
  ASSERT_TRUE(c.send(Header{"X-Big", std::string(200 * 1024, 'x')}));
  ASSERT_TRUE(c.send(Rcpt{{"<bob@example.test>"}}));
  auto r = c.read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, Response{Simple{rsp::kContinue}});
}
TEST(MilterHostile, AbortAndQuitAtAnyTime) {
  Conn c;
  ASSERT_TRUE(c.negotiate());
  ASSERT_TRUE(c.send(Abort{}));  // no message open
  ASSERT_TRUE(c.send(Mail{{"<a@example.org>"}}));
  ASSERT_TRUE(c.send(Abort{}));
  normal_message(c);
  ASSERT_TRUE(c.send(Mail{{"<a@example.org>"}}));
  ASSERT_TRUE(c.send(Header{"Subject", "quit mid-message"}));
  ASSERT_TRUE(c.send(Quit{}));
  EXPECT_TRUE(c.closed_within(Ms(3000)));
}
TEST(MilterHostile, QuitNcReusesTheConnection) {
  Conn c;
  ASSERT_TRUE(c.negotiate());
  normal_message(c);
  ASSERT_TRUE(c.send(QuitNc{}));
  normal_message(c, "<carol@example.test>");  // a new SMTP session, same socket
  ASSERT_TRUE(c.send(QuitNc{}));
  normal_message(c);
}
TEST(MilterHostile, RejectAndTempfailRepliesAreWellFormed) {
  Conn c;
  ASSERT_TRUE(c.negotiate());
  ASSERT_TRUE(c.send(Mail{{"<>"}}));
  ASSERT_TRUE(c.send(Rcpt{{"<reject@example.test>"}}));
  auto r = c.read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, Response{ReplyCode{"550 5.7.1 rejected by test"}});
  ASSERT_TRUE(c.send(Rcpt{{"<tempfail@example.test>"}}));
  auto t = c.read();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, Response{ReplyCode{"451 4.7.1 try again later"}});
}
TEST(MilterHostile, SenderChangeAtEom) {
  Conn c;
  ASSERT_TRUE(c.negotiate());
  ASSERT_TRUE(c.send(Mail{{"<changeme@example.org>"}}));
  ASSERT_TRUE(c.send(Eob{}));
  auto r = c.read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, (Response{ChgFrom{"<prvs=0000000000=changeme@example.org>", std::nullopt}}));
}
TEST(MilterHostile, ManyConcurrentConnections) {
  std::vector<std::thread> ts;
  std::atomic<int> good{0};
  for (int i = 0; i < 32; ++i) {
    ts.emplace_back([&] {
      Conn c;
      if (!c.negotiate()) return;
      normal_message(c);
      if (!::testing::Test::HasFailure()) ++good;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(good.load(), 32);
}

// Run with milter_testd --packet-timeout-ms 500 --idle-timeout-ms 1500.
TEST(MilterHostileTimeout, SlowlorisIsCutOffByThePacketTimeout) {
  ASSERT_NE(std::getenv("MILTER_SHORT_TIMEOUTS"), nullptr);
  Conn c;
  ASSERT_TRUE(c.negotiate());
  std::string w;
  ASSERT_TRUE(encode(Command{Header{"Subject", std::string(100, 's')}}, w));
  const auto t0 = std::chrono::steady_clock::now();
  bool cut = false;
  for (char ch : w) {  // one byte every 100 ms: each read is "recent", the packet is not
    if (!c.send_raw(std::string_view(&ch, 1)) || c.closed_within(Ms(100))) {
      cut = true;
      break;
    }
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(cut);
  EXPECT_GE(took, Ms(400));
  EXPECT_LT(took, Ms(3000));
  daemon_still_serves();
}
TEST(MilterHostileTimeout, IdleConnectionIsClosed) {
  ASSERT_NE(std::getenv("MILTER_SHORT_TIMEOUTS"), nullptr);
  Conn c;
  ASSERT_TRUE(c.negotiate());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_within(Ms(5000)));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, Ms(1200));
  daemon_still_serves();
}

}  // namespace
}  // namespace backstop::milter
