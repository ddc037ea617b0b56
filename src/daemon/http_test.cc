#include "daemon/http.h"

#include <asio.hpp>
#include <gtest/gtest.h>

#include <thread>

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

TEST(Http, SplitHostPort) {
  auto a = split_host_port("127.0.0.1:9895");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 9895);
  auto b = split_host_port("[::1]:80");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first, "::1");
  for (const char* bad : {"", "host", "h:", ":80", "h:99999", "[::1]80", "h:8x"}) {
    EXPECT_FALSE(split_host_port(bad)) << bad;
  }
}

TEST(Http, ServesMetricsAndHealth) {
  asio::io_context io;
  Metrics metrics;
  metrics.message("inbound", "bounce", "not_ours", "reject");
  metrics.error("store");
  bool healthy = true;
  auto ep = HttpEndpoint::start(io, "127.0.0.1:0",
                                {[&] { return metrics.render(); }, [&] { return healthy; }});
  ASSERT_TRUE(ep) << ep.error().to_string();
  std::uint16_t port = (*ep)->port();
  ASSERT_NE(port, 0);
  auto guard = asio::make_work_guard(io);
  std::thread t([&] { io.run(); });

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
  guard.reset();
  io.stop();
  t.join();
}

TEST(Http, BindFailureIsEnvironmentError) {
  asio::io_context io;
  auto ep = HttpEndpoint::start(io, "192.0.2.1:1", {});  // not an address of this host
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error().code(), Code::kEnvironment);
}

}  // namespace
}  // namespace backstop::daemon
