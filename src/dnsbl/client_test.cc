// Client logic against an in-memory resolver: hermetic, no sockets.
#include "dnsbl/client.h"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <map>
#include <optional>

#include "dnsbl/dns_answer.h"
#include "dnsbl/dns_test_util.h"

namespace backstop::dnsbl {
namespace {

using testing::a_rr;
using testing::build;
using testing::Response;
using testing::txt_rr;

class FakeResolver final : public Resolver {
 public:
  explicit FakeResolver(asio::io_context& io) : io_(io) {}
  void query(const std::string& name, std::uint16_t qtype, ResolveHandler handler) override {
    ++queries;
    ResolveReply reply = unexpected<ResolveError>(ResolveError{LookupError::kTimeout, "no answer"});
    if (auto it = answers.find({name, qtype}); it != answers.end()) reply = it->second;
    asio::post(io_, [h = std::move(handler), reply]() mutable { h(std::move(reply)); });
  }
  void set(const std::string& name, std::uint16_t qtype, ResolveReply r) { answers[{name, qtype}] = std::move(r); }
  void listed(const std::string& name, std::uint8_t code, std::uint32_t ttl, const std::string& txt) {
    Response a;
    a.qname = name;
    a.answers = {a_rr(127, 0, 0, code, ttl)};
    set(name, kTypeA, build(a));
    Response t;
    t.qname = name;
    t.qtype = kTypeTxt;
    t.answers = {txt_rr(txt, ttl)};
    set(name, kTypeTxt, build(t));
  }
  void nxdomain(const std::string& name, std::uint32_t minimum) {
    Response a;
    a.qname = name;
    a.rcode = kRcodeNxDomain;
    a.soa = true;
    a.soa_minimum = minimum;
    set(name, kTypeA, build(a));
  }
  int queries = 0;
  std::map<std::pair<std::string, std::uint16_t>, ResolveReply> answers;

 private:
  asio::io_context& io_;
};

class ClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<Client> make(std::vector<ZoneConfig> zones, bool safe_mode = true) {
    ClientOptions o;
    o.zones = std::move(zones);
    o.safe_mode = safe_mode;
    auto c = Client::create(io.get_executor(), resolver, clock, o);
    EXPECT_TRUE(c);
    return std::move(*c);
  }
  CheckResult run(Client& c, std::string ip, std::string from = "") {
    std::optional<CheckResult> out;
    c.check(ip, from, [&](CheckResult r) { out = std::move(r); });
    EXPECT_FALSE(out) << "handler ran inside check()";
    io.restart();
    io.run();
    EXPECT_TRUE(out);
    return out ? std::move(*out) : CheckResult{};
  }
  static ZoneConfig zone(std::string name, Action a = Action::kReject) {
    ZoneConfig z;
    z.name = std::move(name);
    z.action = a;
    return z;
  }

  asio::io_context io;
  FakeResolver resolver{io};
  ManualClock clock{1'700'000'000};
};

TEST_F(ClientTest, ListedWithTxtRejects) {
  resolver.listed("10.2.0.192.bl.test", 2, 300, "Backscatter from 192.0.2.10\r\nsince 2026-11-01");
  auto c = make({zone("bl.test")});
  auto r = run(*c, "192.0.2.10", "<>");
  ASSERT_TRUE(r.queried);
  ASSERT_EQ(r.zones.size(), 1u);
  EXPECT_EQ(r.zones[0].status, LookupStatus::kListed);
  EXPECT_EQ(r.zones[0].txt, "Backscatter from 192.0.2.10 since 2026-11-01");
  auto d = decide(r);
  EXPECT_EQ(d.verdict, SmtpDecision::Verdict::kReject);
  EXPECT_EQ(d.reply(), "554 5.7.1 Service unavailable; client [192.0.2.10] blocked using bl.test; "
                       "Backscatter from 192.0.2.10 since 2026-11-01");
  EXPECT_EQ(resolver.queries, 2);
}

TEST_F(ClientTest, SafeModeSkipsOrdinarySenders) {
  resolver.listed("10.2.0.192.bl.test", 2, 300, "x");
  auto c = make({zone("bl.test")});
  auto r = run(*c, "192.0.2.10", "alice@example.com");
  EXPECT_FALSE(r.queried);
  EXPECT_EQ(resolver.queries, 0);
  EXPECT_EQ(decide(r).verdict, SmtpDecision::Verdict::kAccept);
  EXPECT_EQ(run(*c, "192.0.2.10", "postmaster@example.net").zones[0].status, LookupStatus::kListed);
  auto unsafe = make({zone("bl.test")}, false);
  EXPECT_TRUE(run(*unsafe, "192.0.2.10", "alice@example.com").queried);
  EXPECT_EQ(c->stats().skipped, 1u);
}

TEST_F(ClientTest, CachesPositiveAnswersForTheirTtl) {
  resolver.listed("10.2.0.192.bl.test", 2, 120, "x");
  auto c = make({zone("bl.test")});
  run(*c, "192.0.2.10");
  EXPECT_EQ(resolver.queries, 2);
  auto again = run(*c, "192.0.2.10");
  EXPECT_EQ(resolver.queries, 2);
  EXPECT_TRUE(again.zones[0].from_cache);
  EXPECT_EQ(again.zones[0].txt, "x");
  clock.advance(120);
  run(*c, "192.0.2.10");
  EXPECT_EQ(resolver.queries, 4);
}

TEST_F(ClientTest, CachesNegativeAnswersForSoaMinimum) {
  resolver.nxdomain("1.0.0.127.bl.test", 30);
  auto c = make({zone("bl.test")});
  EXPECT_EQ(run(*c, "127.0.0.1").zones[0].status, LookupStatus::kNotListed);
  EXPECT_EQ(run(*c, "127.0.0.1").zones[0].status, LookupStatus::kNotListed);
  EXPECT_EQ(resolver.queries, 1);
  clock.advance(30);
  run(*c, "127.0.0.1");
  EXPECT_EQ(resolver.queries, 2);
}

TEST_F(ClientTest, ErrorsAreNotCachedAndNeverList) {
  Response sf;
  sf.qname = "10.2.0.192.bl.test";
  sf.rcode = kRcodeServFail;
  resolver.set(sf.qname, kTypeA, build(sf));
  auto c = make({zone("bl.test"), zone("timeout.test")});
  auto r = run(*c, "192.0.2.10");
  EXPECT_EQ(r.zones[0].status, LookupStatus::kError);
  EXPECT_EQ(r.zones[0].error, LookupError::kServfail);
  EXPECT_EQ(r.zones[1].status, LookupStatus::kError);
  EXPECT_EQ(r.zones[1].error, LookupError::kTimeout);
  EXPECT_EQ(decide(r).verdict, SmtpDecision::Verdict::kAccept);
  run(*c, "192.0.2.10");
  EXPECT_EQ(resolver.queries, 4);
}

TEST_F(ClientTest, SeveralZonesWithTheirOwnMapsAndActions) {
  resolver.listed("5.113.0.203.bl.test", 3, 300, "callout");
  resolver.listed("5.113.0.203.tag.test", 2, 300, "tagged");
  resolver.nxdomain("5.113.0.203.clean.test", 60);
  auto bl = zone("bl.test");
  bl.codes = {{"127.0.0.2", "bounce"}};  // 127.0.0.3 is not ours to act on
  auto c = make({bl, zone("tag.test", Action::kTag), zone("clean.test")});
  auto r = run(*c, "203.0.113.5");
  EXPECT_EQ(r.zones[0].status, LookupStatus::kNotListed);
  EXPECT_EQ(r.zones[0].ignored_codes, std::vector<std::string>{"127.0.0.3"});
  EXPECT_EQ(r.zones[1].status, LookupStatus::kListed);
  EXPECT_EQ(r.zones[2].status, LookupStatus::kNotListed);
  auto d = decide(r);
  EXPECT_EQ(d.verdict, SmtpDecision::Verdict::kTag);
  EXPECT_NE(d.header_value.find("zone=tag.test"), std::string::npos);
}

TEST_F(ClientTest, Ipv6AndBadAddresses) {
  resolver.listed("5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.f.f.f.f.8.b.d.0.1.0.0.2.bl.test", 2, 300, "v6");
  auto c = make({zone("bl.test")});
  EXPECT_EQ(run(*c, "2001:db8:ffff::25").zones[0].status, LookupStatus::kListed);
  auto bad = run(*c, "not-an-ip");
  EXPECT_EQ(bad.zones[0].status, LookupStatus::kError);
  EXPECT_EQ(decide(bad).verdict, SmtpDecision::Verdict::kAccept);
}

TEST_F(ClientTest, MissingTxtStillLists) {
  Response a;
  a.qname = "10.2.0.192.bl.test";
  a.answers = {a_rr(127, 0, 0, 2)};
  resolver.set(a.qname, kTypeA, build(a));
  auto c = make({zone("bl.test")});
  auto r = run(*c, "192.0.2.10");
  EXPECT_EQ(r.zones[0].status, LookupStatus::kListed);
  EXPECT_EQ(r.zones[0].txt, "");
  EXPECT_EQ(decide(r).text, "Service unavailable; client [192.0.2.10] blocked using bl.test; listed");
}

TEST_F(ClientTest, RejectsBadZoneNames) {
  ClientOptions o;
  o.zones = {zone("bad zone")};
  EXPECT_FALSE(Client::create(io.get_executor(), resolver, clock, o));
}

}  // namespace
}  // namespace backstop::dnsbl
