// The real c-ares resolver against a hostile DNS responder of our own (UDP on
// loopback): no answer, SERVFAIL, truncated, malformed, wrong IDs, wrong
// question, non-listing codes. The client must report an error (never
// "listed") for each, and "listed" only for the one honest answer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include "dnsbl/cares_resolver.h"
#include "dnsbl/client.h"
#include "dnsbl/dns_answer.h"
#include "dnsbl/dns_test_util.h"

namespace backstop::dnsbl {
namespace {

using testing::a_rr;
using testing::build;
using testing::Response;
using testing::txt_rr;

// Behaviour is chosen by the zone's first label: "<mode>.hostile.test".
class HostileServer {
 public:
  HostileServer() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~HostileServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::uint16_t port() const { return port_; }
  std::atomic<int> received{0};

 private:
  void loop() {
    std::uint8_t buf[1500];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      auto n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n <= 0) continue;
      ++received;
      std::uint16_t id = 0, qtype = 0;
      std::string qname;
      if (!testing::parse_query(buf, static_cast<std::size_t>(n), &id, &qname, &qtype)) continue;
      auto mode_end = qname.find(".hostile.test");
      if (mode_end == std::string::npos) continue;
      auto mode_start = qname.rfind('.', mode_end - 1);
      std::string mode = qname.substr(mode_start + 1, mode_end - mode_start - 1);
      Response r;
      r.id = id;
      r.qname = qname;
      r.qtype = qtype;
      if (qtype == kTypeTxt) {
        r.answers = {txt_rr("listed by hostile " + mode)};
      } else {
        r.answers = {a_rr(127, 0, 0, 2)};
      }
      std::vector<std::uint8_t> out;
      if (mode == "silent") continue;
      if (mode == "good") {
        out = build(r);
      } else if (mode == "servfail") {
        r.rcode = kRcodeServFail;
        out = build(r);
      } else if (mode == "refused") {
        r.rcode = kRcodeRefused;
        out = build(r);
      } else if (mode == "truncated") {
        r.tc = true;
        out = build(r);
      } else if (mode == "garbage") {
        out.assign(buf, buf + 2);  // right id, then noise
        for (int i = 0; i < 40; ++i) out.push_back(static_cast<std::uint8_t>(0xc0 | i));
      } else if (mode == "cut") {
        out = build(r);
        out.resize(out.size() - 3);  // the A record's data runs past the end
      } else if (mode == "wrongid") {
        r.id = static_cast<std::uint16_t>(id + 1);
        out = build(r);
      } else if (mode == "wrongname") {
        r.qname = "2.0.0.127.other.test";
        out = build(r);
      } else if (mode == "public") {
        r.answers = {a_rr(93, 184, 216, 34)};  // a hijacking resolver's ad server
        out = build(r);
      } else if (mode == "quota") {
        r.answers = {a_rr(127, 255, 255, 254)};
        out = build(r);
      } else if (mode == "loop") {
        out = build(r);
        auto& rec = out[12 + qname.size() + 2 + 4];  // answer owner pointer -> itself
        rec = 0xc0;
        out[12 + qname.size() + 2 + 4 + 1] = static_cast<std::uint8_t>(12 + qname.size() + 2 + 4);
      } else {
        continue;
      }
      sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class HostileDnsTest : public ::testing::Test {
 protected:
  CheckResult lookup(const std::string& mode, bool tcp_on_truncation = true) {
    CaresOptions o;
    o.server = "127.0.0.1";
    o.port = server.port();
    o.timeout = std::chrono::milliseconds(300);
    o.tcp_on_truncation = tcp_on_truncation;
    auto resolver = make_cares_resolver(io.get_executor(), o);
    EXPECT_TRUE(resolver);
    ClientOptions co;
    ZoneConfig z;
    z.name = mode + ".hostile.test";
    co.zones = {z};
    auto client = Client::create(io.get_executor(), **resolver, clock, co);
    EXPECT_TRUE(client);
    std::optional<CheckResult> out;
    auto start = std::chrono::steady_clock::now();
    (*client)->check("192.0.2.10", "<>", [&](CheckResult r) { out = std::move(r); });
    io.restart();
    io.run_for(std::chrono::seconds(5));
    elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(out) << mode << ": no result within 5 s";
    return out ? *out : CheckResult{};
  }

  HostileServer server;
  asio::io_context io;
  ManualClock clock;
  std::chrono::steady_clock::duration elapsed{};
};

TEST_F(HostileDnsTest, HonestAnswerLists) {
  auto r = lookup("good");
  ASSERT_EQ(r.zones.size(), 1u);
  EXPECT_EQ(r.zones[0].status, LookupStatus::kListed);
  EXPECT_EQ(r.zones[0].txt, "listed by hostile good");
  EXPECT_EQ(decide(r).verdict, SmtpDecision::Verdict::kReject);
}

struct Case {
  const char* mode;
  LookupError error;
};

TEST_F(HostileDnsTest, NoHostileAnswerEverLists) {
  const Case cases[] = {
      {"silent", LookupError::kTimeout},    {"servfail", LookupError::kServfail},
      {"refused", LookupError::kRefused},   {"garbage", LookupError::kTimeout},
      {"cut", LookupError::kMalformed},     {"wrongid", LookupError::kTimeout},
      {"wrongname", LookupError::kTimeout}, {"public", LookupError::kMalformed},
      {"quota", LookupError::kMalformed},   {"loop", LookupError::kMalformed},
  };
  for (const auto& c : cases) {
    auto r = lookup(c.mode);
    ASSERT_EQ(r.zones.size(), 1u) << c.mode;
    EXPECT_EQ(r.zones[0].status, LookupStatus::kError) << c.mode;
    EXPECT_EQ(error_name(r.zones[0].error), error_name(c.error)) << c.mode << ": " << r.zones[0].detail;
    EXPECT_FALSE(r.listed()) << c.mode;
    EXPECT_EQ(decide(r).verdict, SmtpDecision::Verdict::kAccept) << c.mode;
  }
}

TEST_F(HostileDnsTest, TimeoutIsBounded) {
  auto r = lookup("silent");
  EXPECT_EQ(r.zones[0].error, LookupError::kTimeout);
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST_F(HostileDnsTest, TruncatedAnswersNeverList) {
  // Without TCP fallback the truncated answer itself is refused.
  auto r = lookup("truncated", false);
  EXPECT_EQ(r.zones[0].status, LookupStatus::kError);
  EXPECT_EQ(r.zones[0].error, LookupError::kTruncated);
  // With TCP fallback c-ares retries over TCP, which nobody serves here.
  auto t = lookup("truncated", true);
  EXPECT_EQ(t.zones[0].status, LookupStatus::kError) << t.zones[0].detail;
  EXPECT_FALSE(t.listed());
}

}  // namespace
}  // namespace backstop::dnsbl
