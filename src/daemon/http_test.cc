#include "daemon/http.h"

#include <asio.hpp>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "daemon/metrics.h"

namespace backstop::daemon {
namespace {

std::string fetch(std::uint16_t port, const std::string& request) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(s, asio::buffer(request));
  std::string out;
  asio::error_code ec;
  asio::read(s, asio::dynamic_buffer(out), ec);
  return out;
}

TEST(Http, ServesMetricsAndHealth) {
  Metrics metrics;
  metrics.message("inbound", "bounce", "not_ours", "reject");
  metrics.error("store");
  bool healthy = true;
  auto ep = HttpEndpoint::start("127.0.0.1:0", {[&] { return metrics.render(); }, [&] { return healthy; }});
  ASSERT_TRUE(ep) << ep.error().to_string();
  std::uint16_t port = (*ep)->port();
  ASSERT_NE(port, 0);

  std::string m = fetch(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(m.find("HTTP/1.0 200"), std::string::npos);
  EXPECT_NE(m.find("backstop_messages_total{action=\"reject\",kind=\"bounce\",role=\"inbound\",verdict=\"not_ours\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("backstop_errors_total{where=\"store\"} 1"), std::string::npos);
  EXPECT_NE(fetch(port, "GET /healthz HTTP/1.0\r\n\r\n").find("200 OK"), std::string::npos);
  healthy = false;
  EXPECT_NE(fetch(port, "GET /healthz HTTP/1.0\r\n\r\n").find("503"), std::string::npos);
  EXPECT_NE(fetch(port, "GET /other HTTP/1.0\r\n\r\n").find("404"), std::string::npos);
  EXPECT_NE(fetch(port, "POST /metrics HTTP/1.0\r\n\r\n").find("405"), std::string::npos);
  // an over-long head is refused, the endpoint stays up
  EXPECT_NE(fetch(port, "GET /" + std::string(20000, 'a')).find("400"), std::string::npos);
  EXPECT_NE(fetch(port, "GET /healthz HTTP/1.0\r\n\r\n").find("HTTP/1.0"), std::string::npos);

  (*ep)->stop();
}

TEST(Http, BindFailureIsEnvironmentError) {
  auto ep = HttpEndpoint::start("192.0.2.1:1", {});  // not an address of this host
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error().code(), Code::kEnvironment);
}

TEST(Http, BadListenIsInvalidArgument) {
  auto ep = HttpEndpoint::start("no-port", {});
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error().code(), Code::kInvalidArgument);
}

TEST(Http, IdleConnectionsOverTheCapAreRefusedAndScrapesResume) {
  HttpOptions o;
  o.max_connections = 4;
  o.request_timeout = std::chrono::milliseconds(300);
  auto ep = HttpEndpoint::start("127.0.0.1:0", {[] { return std::string("m 1\n"); }, {}}, o);
  ASSERT_TRUE(ep) << ep.error().to_string();
  const std::uint16_t port = (*ep)->port();
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> idle;
  for (int i = 0; i < 12; ++i) {  // never send a request
    idle.emplace_back(io);
    idle.back().connect({asio::ip::make_address("127.0.0.1"), port});
  }
  // Over the cap: closed at accept. A scrape may be refused while the idle
  // ones hold the slots; once their deadline passes, scrapes work again.
  for (int i = 0; i < 100 && (*ep)->refused() < 8; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE((*ep)->refused(), 8u);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_NE(fetch(port, "GET /metrics HTTP/1.0\r\n\r\n").find("m 1"), std::string::npos);
}

TEST(Http, TricklingClientIsCutAtTheWholeRequestDeadline) {
  HttpOptions o;
  o.request_timeout = std::chrono::milliseconds(300);
  auto ep = HttpEndpoint::start("127.0.0.1:0", {[] { return std::string("m 1\n"); }, {}}, o);
  ASSERT_TRUE(ep);
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), (*ep)->port()});
  const auto start = std::chrono::steady_clock::now();
  asio::error_code ec;
  // One byte every 50 ms: each read would restart a per-read timer.
  for (int i = 0; i < 40 && !ec; ++i) {
    asio::write(s, asio::buffer("G", 1), ec);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(ec) << "still connected after 2 s";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
}

}  // namespace
}  // namespace backstop::daemon
