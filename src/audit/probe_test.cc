// The Asio driver against scripted SMTP servers on loopback: the probe's
// commands and timeouts, and the capture receiver getting a bounce.
#include "audit/probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace backstop::audit {
namespace {

int listen_any(std::uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

std::uint16_t free_port() {
  std::uint16_t p = 0;
  ::close(listen_any(&p));
  return p;
}

void send_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

std::string read_line(int fd) {
  std::string l;
  char c;
  while (::recv(fd, &c, 1, 0) == 1) {
    l += c;
    if (c == '\n') break;
  }
  return l;
}

// An accept-all MTA: answers every command, and after a message sends its
// "bounce" to bounce_port (when set), like an MTA bouncing to the sender.
struct FakeMta {
  std::uint16_t port = 0;
  int fd = -1;
  std::thread t;
  std::vector<std::string> commands;
  std::uint16_t bounce_port = 0;
  std::string mode = "accept";  // "accept", "silent" (never answers), "garbage"

  void start() {
    fd = listen_any(&port);
    t = std::thread([this] { serve(); });
  }
  void serve() {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    if (mode == "silent") {
      char buf[16];
      (void)::recv(c, buf, sizeof buf, 0);  // until the probe gives up and closes
      ::close(c);
      return;
    }
    if (mode == "garbage") {
      send_all(c, "HTTP/1.1 400 Bad Request\r\n\r\n");
      char buf[16];
      (void)::recv(c, buf, sizeof buf, 0);
      ::close(c);
      return;
    }
    send_all(c, "220 fake.test ESMTP\r\n");
    std::string token;
    for (;;) {
      std::string l = read_line(c);
      if (l.empty()) break;
      commands.push_back(l);
      if (l.starts_with("DATA")) {
        send_all(c, "354 go\r\n");
        std::string body;
        for (std::string d = read_line(c); !d.empty() && d != ".\r\n"; d = read_line(c)) body += d;
        const auto at = body.find("backstop-probe-");
        if (at != std::string::npos) token = body.substr(at, 31);
        send_all(c, "250 2.0.0 queued\r\n");
      } else if (l.starts_with("QUIT")) {
        send_all(c, "221 bye\r\n");
        break;
      } else if (l.starts_with("EHLO")) {
        send_all(c, "250-fake.test\r\n250 PIPELINING\r\n");
      } else {
        send_all(c, "250 ok\r\n");
      }
    }
    ::close(c);
    if (bounce_port != 0) bounce(token);
  }
  void bounce(const std::string& token) {
    int b = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(bounce_port);
    if (::connect(b, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    auto cmd = [&](const std::string& s) {
      send_all(b, s);
      for (std::string l = read_line(b); l.size() >= 4 && l[3] == '-'; l = read_line(b)) {
      }
    };
    read_line(b);  // greeting
    cmd("EHLO fake.test\r\n");
    cmd("MAIL FROM:<>\r\n");
    cmd("RCPT TO:<audit@capture.test>\r\n");
    cmd("DATA\r\n");
    cmd("From: MAILER-DAEMON@fake.test (Mail Delivery System)\r\nTo: audit@capture.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\n"
        "Content-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; fake.test\r\n\r\nFinal-Recipient: rfc822; " + token + "@example.test\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n--B--\r\n.\r\n");
    cmd("QUIT\r\n");
    ::close(b);
  }
  ~FakeMta() {
    if (t.joinable()) t.join();
    if (fd >= 0) ::close(fd);
  }
};

ProbeOptions options(std::uint16_t port) {
  ProbeOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.plan.helo = "probe.test";
  o.plan.sender = "backstop-audit@probe.test";
  o.plan.domain = "example.test";
  o.plan.random_local = "backstop-probe-00112233445566ff";
  o.step_timeout = std::chrono::milliseconds(3000);
  return o;
}

TEST(Probe, AcceptAllServerAndNoDataWithoutCapture) {
  FakeMta mta;
  mta.start();
  auto run = run_probe(options(mta.port));
  mta.t.join();
  ASSERT_TRUE(run.error.empty()) << run.error;
  EXPECT_EQ(run.connected_to, "127.0.0.1:" + std::to_string(mta.port));
  ASSERT_TRUE(run.outcome.rcpt_random);
  EXPECT_EQ(run.outcome.rcpt_random->code, 250);
  std::size_t rcpts = 0;
  for (const auto& c : mta.commands) {
    EXPECT_FALSE(c.starts_with("DATA"));
    if (c.starts_with("RCPT")) ++rcpts;
  }
  EXPECT_EQ(rcpts, 3u);
  EXPECT_EQ(mta.commands.back(), "QUIT\r\n");
  EXPECT_FALSE(run.capture);
}

TEST(Probe, CaptureReceivesAndClassifiesTheBounce) {
  FakeMta mta;
  const std::uint16_t cap = free_port();
  mta.bounce_port = cap;
  mta.start();
  auto o = options(mta.port);
  o.plan.capture = true;
  o.plan.capture_sender = "audit@capture.test";
  o.plan.message = probe_message(o.plan, "Sun, 06 Dec 2026 12:00:00 +0000");
  o.capture_address = "127.0.0.1";
  o.capture_port = cap;
  o.capture_wait = std::chrono::milliseconds(60000);
  const auto t0 = std::chrono::steady_clock::now();
  auto run = run_probe(o);
  mta.t.join();
  ASSERT_TRUE(run.error.empty()) << run.error;
  ASSERT_TRUE(run.capture);
  EXPECT_TRUE(run.capture->message_sent);
  ASSERT_TRUE(run.capture->bounce_received);
  EXPECT_EQ(run.capture->envelope_from, "");
  EXPECT_EQ(run.capture->kind, "bounce");
  EXPECT_EQ(run.capture->status.substr(0, 5), "5.1.1");
  // it stopped waiting when the bounce came, long before capture_wait
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  EXPECT_LT(run.capture->seconds, 5.0);
}

TEST(Probe, CaptureWaitIsBounded) {
  FakeMta mta;  // takes the message, never bounces
  mta.start();
  auto o = options(mta.port);
  o.plan.capture = true;
  o.plan.capture_sender = "audit@capture.test";
  o.plan.message = "Subject: x\r\n\r\nbackstop-probe-00112233445566ff\r\n";
  o.capture_address = "127.0.0.1";
  o.capture_port = free_port();
  o.capture_wait = std::chrono::milliseconds(300);
  auto run = run_probe(o);
  mta.t.join();
  ASSERT_TRUE(run.capture);
  EXPECT_TRUE(run.capture->message_sent);
  EXPECT_FALSE(run.capture->bounce_received);
  EXPECT_GE(run.capture->waited_seconds, 0.29);
  EXPECT_LT(run.capture->waited_seconds, 5.0);
}

TEST(Probe, SilentServerTimesOut) {
  FakeMta mta;
  mta.mode = "silent";
  mta.start();
  auto o = options(mta.port);
  o.step_timeout = std::chrono::milliseconds(200);
  auto run = run_probe(o);
  mta.t.join();
  EXPECT_TRUE(run.error.empty());
  EXPECT_NE(run.outcome.aborted.find("no reply within 0.2 s"), std::string::npos) << run.outcome.aborted;
  EXPECT_FALSE(run.outcome.greeting);
}

TEST(Probe, GarbageServerIsAborted) {
  FakeMta mta;
  mta.mode = "garbage";
  mta.start();
  auto run = run_probe(options(mta.port));
  mta.t.join();
  EXPECT_NE(run.outcome.aborted.find("unusable reply"), std::string::npos) << run.outcome.aborted;
}

TEST(Probe, RefusedConnectionIsAnError) {
  auto run = run_probe(options(free_port()));
  EXPECT_NE(run.error.find("cannot connect"), std::string::npos) << run.error;
}

TEST(Probe, RandomLocalPart) {
  SeededRandom r(7);
  auto a = random_local_part(r);
  auto b = random_local_part(r);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->size(), std::string(kProbeRecipientPrefix).size() + 16);
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(valid_probe_address(*a + "@example.test"));
}

}  // namespace
}  // namespace backstop::audit
