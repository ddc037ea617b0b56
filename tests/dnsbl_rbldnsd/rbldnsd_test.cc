// Integration: `export_zone` -> real rbldnsd on 127.0.0.1:<free port> ->
// dig and backstop's DNSBL client. Needs rbldnsd and dig (scripts/install-deps.sh).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "dnsbl/cares_resolver.h"
#include "dnsbl/client.h"
#include "dnsbl/export.h"
#include "dnsbl/listings.h"
#include "store/store.h"

namespace backstop::dnsbl {
namespace {

constexpr const char* kZone = "bl.test";
constexpr const char* kV6Name = "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.f.f.f.f.8.b.d.0.1.0.0.2.bl.test";

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  return out;
}

std::uint16_t free_udp_port() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class RbldnsdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dnsbl-rbldnsd-XXXXXX";
    dir_ = mkdtemp(tmpl);
    chmod(dir_.c_str(), 0755);  // rbldnsd drops to user rbldns when started as root
    store_ = store::make_memory_store({&clock_});
    listings_ = std::make_unique<Listings>(*store_, clock_, ListingPolicy{}, [](std::string_view) {});
    export_options_.zone = kZone;
    export_options_.out_dir = dir_;
    export_options_.url = "https://bl.test/lookup";
    export_options_.ttl = 60;
  }
  void TearDown() override {
    stop();
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  void export_now() {
    auto active = listings_->active();
    ASSERT_TRUE(active);
    auto st = export_zone(*active, export_options_, clock_.now_unix());
    ASSERT_TRUE(st) << st.error().to_string();
  }

  void start() {
    port_ = free_udp_port();
    pid_ = fork();
    if (pid_ == 0) {
      const std::string bind = "127.0.0.1/" + std::to_string(port_);
      const std::string z4 = std::string(kZone) + ":ip4set:" + kZone + ".ip4set";
      const std::string z6 = std::string(kZone) + ":ip6trie:" + kZone + ".ip6trie";
      const std::string log = dir_ + "/rbldnsd.out";
      std::freopen(log.c_str(), "w", stdout);
      std::freopen(log.c_str(), "a", stderr);
      execlp("rbldnsd", "rbldnsd", "-n", "-q", "-r", dir_.c_str(), "-b", bind.c_str(), "-c", "1s", "-t", "60",
             z4.c_str(), z6.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_GT(pid_, 0);
    // Ready when the RFC 5782 test entry answers.
    for (int i = 0; i < 100; ++i) {
      if (dig("2.0.0.127.bl.test", "A", true) == "127.0.0.2\n") return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "rbldnsd did not answer on port " << port_ << ": " << run("cat " + dir_ + "/rbldnsd.out");
  }

  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string dig(const std::string& name, const std::string& type, bool short_form) {
    return run("dig @127.0.0.1 -p " + std::to_string(port_) + " +norecurse +notcp +time=2 +tries=1 " +
               (short_form ? "+short " : "") + name + " " + type + " 2>&1");
  }

  CheckResult client_lookup(const std::string& ip) {
    asio::io_context io;
    CaresOptions co;
    co.server = "127.0.0.1";
    co.port = port_;
    co.timeout = std::chrono::milliseconds(1000);
    auto resolver = make_cares_resolver(io.get_executor(), co);
    EXPECT_TRUE(resolver);
    ClientOptions opts;
    ZoneConfig z;
    z.name = kZone;
    opts.zones = {z};
    auto client = Client::create(io.get_executor(), **resolver, clock_, opts);
    EXPECT_TRUE(client);
    std::optional<CheckResult> out;
    (*client)->check(ip, "<>", [&](CheckResult r) { out = std::move(r); });
    io.run();
    EXPECT_TRUE(out);
    return out ? *out : CheckResult{};
  }

  std::string dir_;
  ManualClock clock_{std::time(nullptr)};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Listings> listings_;
  ExportOptions export_options_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(RbldnsdTest, ServesExportAnswersDigAndOurClientAndReloads) {
  ASSERT_TRUE(listings_->record_hit("192.0.2.10", {"bounce", "b1@example.net", 0}));
  ASSERT_TRUE(listings_->record_hit("2001:db8:ffff::25", {"autoreply", "a1@example.net", 0}));
  ASSERT_TRUE(listings_->record_hit("127.0.0.1", {"bounce", "never@example.net", 0}));  // RFC 5782: never
  export_now();
  start();
  ASSERT_GT(pid_, 0);

  // dig: A and TXT for a listed IPv4 and IPv6 address, NXDOMAIN for 127.0.0.1.
  EXPECT_EQ(dig("10.2.0.192.bl.test", "A", true), "127.0.0.2\n");
  const std::string txt4 = dig("10.2.0.192.bl.test", "TXT", true);
  EXPECT_NE(txt4.find("192.0.2.10 sent backscatter (bounce x1) to bl.test spamtraps since"), std::string::npos)
      << txt4;
  EXPECT_EQ(dig(kV6Name, "A", true), "127.0.0.2\n");
  const std::string txt6 = dig(kV6Name, "TXT", true);
  EXPECT_NE(txt6.find("2001:db8:ffff::25 sent backscatter (autoreply x1)"), std::string::npos) << txt6;
  EXPECT_NE(dig("1.0.0.127.bl.test", "A", false).find("status: NXDOMAIN"), std::string::npos);
  EXPECT_NE(dig("11.2.0.192.bl.test", "A", false).find("status: NXDOMAIN"), std::string::npos);
  const std::string test6 = dig("2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.test", "A", true);
  EXPECT_EQ(test6, "127.0.0.2\n");  // ::ffff:7f00:2, the IPv6 test entry

  // Our client gets the same answers.
  auto r4 = client_lookup("192.0.2.10");
  ASSERT_EQ(r4.zones.size(), 1u);
  EXPECT_EQ(r4.zones[0].status, LookupStatus::kListed);
  EXPECT_EQ(r4.zones[0].codes, std::vector<std::string>{"127.0.0.2"});
  EXPECT_EQ("\"" + r4.zones[0].txt + "\"\n", txt4);
  EXPECT_EQ(decide(r4).reply(), "554 5.7.1 Service unavailable; client [192.0.2.10] blocked using bl.test; " +
                                    r4.zones[0].txt);
  auto r6 = client_lookup("2001:db8:ffff::25");
  EXPECT_EQ(r6.zones[0].status, LookupStatus::kListed);
  EXPECT_EQ("\"" + r6.zones[0].txt + "\"\n", txt6);
  auto lo = client_lookup("127.0.0.1");
  EXPECT_EQ(lo.zones[0].status, LookupStatus::kNotListed);
  EXPECT_EQ(decide(lo).verdict, SmtpDecision::Verdict::kAccept);

  // Re-export (a delisting and a new listing) is picked up without a restart.
  const pid_t served_by = pid_;
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // a new mtime second
  ASSERT_TRUE(listings_->delist("192.0.2.10", "test"));
  ASSERT_TRUE(listings_->record_hit("198.51.100.7", {"virus_notice", "v1@example.net", 0}));
  export_now();
  bool reloaded = false;
  for (int i = 0; i < 100 && !reloaded; ++i) {
    reloaded = dig("7.100.51.198.bl.test", "A", true) == "127.0.0.2\n";
    if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(reloaded) << run("cat " + dir_ + "/rbldnsd.out");
  EXPECT_NE(dig("10.2.0.192.bl.test", "A", false).find("status: NXDOMAIN"), std::string::npos);
  EXPECT_EQ(client_lookup("198.51.100.7").zones[0].status, LookupStatus::kListed);
  EXPECT_EQ(client_lookup("192.0.2.10").zones[0].status, LookupStatus::kNotListed);
  EXPECT_EQ(kill(served_by, 0), 0);  // the same rbldnsd process
  EXPECT_EQ(pid_, served_by);
}

}  // namespace
}  // namespace backstop::dnsbl
