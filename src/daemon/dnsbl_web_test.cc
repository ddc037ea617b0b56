#include "daemon/dnsbl_web.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dnsbl/listings.h"
#include "net/listen.h"

namespace backstop::daemon {
namespace {

// One request on a fresh loopback connection; the whole answer.
std::string http_exchange(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

class DnsblWebTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::make_memory_store({&clock_});
    auto cfg = config::Config::parse(
        "[dnsbl.web]\nlisten = \"127.0.0.1:0\"\nzone = \"bl.example.org\"\ncontact = \"ops@example.org\"\n"
        "[trap]\ndomains = [\"trap.test\"]\n");
    ASSERT_TRUE(cfg) << cfg.error().to_string();
    auto w = DnsblWeb::start(*cfg, *store_, clock_, &metrics_, nullptr, [this](std::string_view l) {
      std::lock_guard lock(mu_);
      log_.emplace_back(l);
    });
    ASSERT_TRUE(w) << w.error().to_string();
    web_ = std::move(*w);
    port_ = net::parse_listen(web_->endpoint())->port;
  }

  ManualClock clock_{1'790'000'000};
  std::unique_ptr<store::Store> store_;
  Metrics metrics_;
  std::unique_ptr<DnsblWeb> web_;
  std::uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<std::string> log_;
};

TEST_F(DnsblWebTest, ServesPagesWithTheSecurityHeaders) {
  const std::string r = http_exchange(port_, "GET / HTTP/1.1\r\nHost: bl.example.org\r\n\r\n");
  EXPECT_TRUE(r.starts_with("HTTP/1.0 200 OK\r\n")) << r.substr(0, 200);
  EXPECT_NE(r.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(r.find("Content-Security-Policy: default-src 'none'"), std::string::npos);
  EXPECT_NE(r.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos);
  EXPECT_NE(r.find("bl.example.org lists"), std::string::npos);
  EXPECT_TRUE(http_exchange(port_, "GET /nope HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 404 "));
  EXPECT_TRUE(http_exchange(port_, "DELETE / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 405 "));
  EXPECT_NE(metrics_.render().find("backstop_dnsbl_web_requests_total{page=\"index\",status=\"200\"} 1"),
            std::string::npos)
      << metrics_.render();
}

TEST_F(DnsblWebTest, DelistingThroughTheSocket) {
  dnsbl::Listings l(*store_, clock_, {}, [](std::string_view) {});
  ASSERT_TRUE(l.record_hit("192.0.2.10", {"bounce", "m@x", 0}));
  const std::string page = http_exchange(port_, "GET /lookup/192.0.2.10 HTTP/1.1\r\nHost: bl.example.org\r\n\r\n");
  const std::string mark = "name=\"token\" value=\"";
  const auto i = page.find(mark);
  ASSERT_NE(i, std::string::npos) << page;
  const std::string token = page.substr(i + mark.size(), page.find('"', i + mark.size()) - i - mark.size());
  const std::string body = "ip=192.0.2.10&token=" + token + "&reason=fixed";
  const std::string r = http_exchange(port_, "POST /delist HTTP/1.1\r\nHost: bl.example.org\r\nOrigin: http://bl.example.org\r\n"
                                        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
                                            std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_TRUE(r.starts_with("HTTP/1.0 200 OK")) << r;
  EXPECT_TRUE(l.active()->empty());
  const std::string m = metrics_.render();
  EXPECT_NE(m.find("backstop_dnsbl_web_delistings_total 1"), std::string::npos) << m;
  std::lock_guard lock(mu_);
  bool logged = false;
  for (const auto& line : log_) {
    logged = logged || line.find("self-service delisted 192.0.2.10 (self-service by 127.0.0.1: fixed)") !=
                           std::string::npos;
  }
  EXPECT_TRUE(logged);
}

TEST_F(DnsblWebTest, HostileRequestsGetFourHundreds) {
  EXPECT_TRUE(http_exchange(port_, "GET / HTTP/1.1\r\nX: " + std::string(kMaxWebRequestHead, 'a') + "\r\n\r\n")
                  .starts_with("HTTP/1.0 400 "));
  EXPECT_TRUE(http_exchange(port_, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").starts_with("HTTP/1.0 400 "));
  EXPECT_TRUE(http_exchange(port_, "POST /delist HTTP/1.1\r\n\r\nip=1").starts_with("HTTP/1.0 400 "));
  EXPECT_TRUE(http_exchange(port_, "POST /delist HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na")
                  .starts_with("HTTP/1.0 400 "));
  EXPECT_TRUE(http_exchange(port_, "POST /delist HTTP/1.1\r\nContent-Length: 100000\r\n\r\n").starts_with("HTTP/1.0 413 "));
  EXPECT_TRUE(http_exchange(port_, std::string("\x16\x03\x01\x02\x00\x01\x00\r\n\r\n", 11)).starts_with("HTTP/1.0 400 ")) << "TLS on plain";
  const auto stats = web_->stats();
  EXPECT_GE(stats.protocol_errors, 1u);
}

TEST_F(DnsblWebTest, ConcurrentVisitorsOnBothWorkers) {
  dnsbl::Listings l(*store_, clock_, {}, [](std::string_view) {});
  constexpr int kThreads = 8;
  for (int i = 0; i < kThreads; ++i) ASSERT_TRUE(l.record_hit("192.0.2." + std::to_string(10 + i), {"bounce", "", 0}));
  std::vector<std::thread> threads;
  std::vector<int> ok(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string ip = "192.0.2." + std::to_string(10 + t);
      std::string token;
      for (int i = 0; i < 5; ++i) {
        const std::string page = http_exchange(port_, "GET /lookup/" + ip + " HTTP/1.0\r\n\r\n");
        const auto at = page.find("name=\"token\" value=\"");
        if (at != std::string::npos) token = page.substr(at + 20, page.find('"', at + 20) - at - 20);
      }
      const std::string body = "ip=" + ip + "&token=" + token;
      const std::string r = http_exchange(port_, "POST /delist HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                                                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
      ok[static_cast<std::size_t>(t)] = r.starts_with("HTTP/1.0 200 ") ? 1 : 0;
    });
  }
  for (auto& th : threads) th.join();
  // All from 127.0.0.0/24: the network's daily budget (5) caps the delistings.
  int delisted = 0;
  for (int v : ok) delisted += v;
  EXPECT_EQ(delisted, 5);
  EXPECT_EQ(l.active()->size(), static_cast<std::size_t>(kThreads - 5));
}

}  // namespace
}  // namespace backstop::daemon
