#include "dnsbl/dns_answer.h"

#include <gtest/gtest.h>

#include "dnsbl/dns_test_util.h"

namespace backstop::dnsbl {
namespace {

using testing::a_rr;
using testing::build;
using testing::Response;
using testing::txt_rr;

constexpr std::string_view kQ = "2.0.0.127.bl.test";

TEST(DnsAnswer, ParsesAAndTtl) {
  Response r;
  r.qname = std::string(kQ);
  r.answers = {a_rr(127, 0, 0, 2, 900), a_rr(127, 0, 0, 4, 300)};
  auto a = parse_dns_answer(build(r), kQ, kTypeA);
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(a->rcode, 0);
  EXPECT_FALSE(a->truncated);
  ASSERT_EQ(a->a.size(), 2u);
  EXPECT_EQ(a->a[1][3], 4);
  EXPECT_EQ(a->answer_ttl, 300u);
}

TEST(DnsAnswer, ParsesTxtJoiningStrings) {
  Response r;
  r.qname = std::string(kQ);
  r.qtype = kTypeTxt;
  auto rr = txt_rr("Listed ");
  rr.rdata.push_back(3);
  rr.rdata.insert(rr.rdata.end(), {'f', 'o', 'r'});
  r.answers = {rr};
  auto a = parse_dns_answer(build(r), "2.0.0.127.BL.TEST.", kTypeTxt);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->txt.size(), 1u);
  EXPECT_EQ(a->txt[0], "Listed for");
}

TEST(DnsAnswer, NxdomainWithSoaGivesNegativeTtl) {
  Response r;
  r.qname = std::string(kQ);
  r.rcode = kRcodeNxDomain;
  r.soa = true;
  r.soa_ttl = 600;
  r.soa_minimum = 90;
  auto a = parse_dns_answer(build(r), kQ, kTypeA);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->rcode, kRcodeNxDomain);
  EXPECT_TRUE(a->a.empty());
  EXPECT_EQ(a->negative_ttl, 90u);
}

TEST(DnsAnswer, ReportsTruncation) {
  Response r;
  r.qname = std::string(kQ);
  r.tc = true;
  auto a = parse_dns_answer(build(r), kQ, kTypeA);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->truncated);
}

TEST(DnsAnswer, IgnoresRecordsForOtherNamesAndTypes) {
  Response r;
  r.qname = std::string(kQ);
  auto other = a_rr(127, 0, 0, 9);
  other.compressed_owner = false;
  r.answers = {txt_rr("wrong type"), other};
  auto pkt = build(r);
  // Rewrite the uncompressed owner's first label "2" to "3": another name.
  std::size_t pos = pkt.size() - 4 - 10 - (kQ.size() + 2) + 1;
  ASSERT_EQ(pkt[pos], '2');
  pkt[pos] = '3';
  auto a = parse_dns_answer(pkt, kQ, kTypeA);
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_TRUE(a->a.empty());
}

TEST(DnsAnswer, RejectsWrongQuestionAndQueries) {
  Response r;
  r.qname = "3.0.0.127.bl.test";
  r.answers = {a_rr(127, 0, 0, 2)};
  auto pkt = build(r);
  auto a = parse_dns_answer(pkt, kQ, kTypeA);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Code::kProtocol);
  EXPECT_FALSE(parse_dns_answer(pkt, "3.0.0.127.bl.test", kTypeTxt));
  pkt[2] &= 0x7f;  // clear QR: a query, not a response
  EXPECT_FALSE(parse_dns_answer(pkt, "3.0.0.127.bl.test", kTypeA));
}

TEST(DnsAnswer, RejectsMalformedPackets) {
  Response r;
  r.qname = std::string(kQ);
  r.answers = {a_rr(127, 0, 0, 2)};
  auto good = build(r);
  // Every truncation of a good packet is an error, never a listing.
  for (std::size_t n = 0; n + 1 < good.size(); ++n) {
    std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    auto a = parse_dns_answer(cut, kQ, kTypeA);
    EXPECT_FALSE(a) << "length " << n;
  }
  // A record with a bad length.
  auto bad = good;
  bad[bad.size() - 5] = 5;
  EXPECT_FALSE(parse_dns_answer(bad, kQ, kTypeA));
  // A compression loop in the question.
  std::vector<std::uint8_t> loop = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
  auto l = parse_dns_answer(loop, kQ, kTypeA);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code(), Code::kMalformed);
}

TEST(DnsName, DecodesPointersAndEscapes) {
  std::vector<std::uint8_t> p = {3, 'f', 'O', 'o', 0, 1, '.', 0xc0, 0};
  std::size_t at = 5;
  auto n = read_dns_name(p, &at);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, "\\046.foo");
  EXPECT_EQ(at, 9u);
}

}  // namespace
}  // namespace backstop::dnsbl

namespace backstop::dnsbl {
namespace {

using testing::build;
using testing::mx_rr;
using testing::Response;

TEST(DnsAnswer, ParsesMxRecords) {
  Response r;
  r.qname = "example.test";
  r.qtype = kTypeMx;
  r.answers = {mx_rr(20, "mx2.Example.test"), mx_rr(10, "mx1.example.test")};
  auto a = parse_dns_answer(build(r), "example.test", kTypeMx);
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_EQ(a->mx.size(), 2u);
  EXPECT_EQ(a->mx[0].preference, 20);
  EXPECT_EQ(a->mx[0].exchange, "mx2.example.test");
  EXPECT_EQ(a->mx[1].exchange, "mx1.example.test");
  EXPECT_TRUE(a->a.empty());
}

TEST(DnsAnswer, MxOfOtherQtypeIsIgnored) {
  Response r;
  r.qname = "example.test";
  r.qtype = kTypeA;
  r.answers = {mx_rr(10, "mx1.example.test"), testing::a_rr(192, 0, 2, 1)};
  auto a = parse_dns_answer(build(r), "example.test", kTypeA);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->mx.empty());
  EXPECT_EQ(a->a.size(), 1u);
}

TEST(DnsAnswer, HostileMxRecordsAreRefused) {
  Response r;
  r.qname = "example.test";
  r.qtype = kTypeMx;
  auto shortrr = mx_rr(10, "");
  shortrr.rdata.resize(2);  // preference only
  r.answers = {shortrr};
  EXPECT_FALSE(parse_dns_answer(build(r), "example.test", kTypeMx));
  auto longrr = mx_rr(10, "mx.example.test");
  longrr.rdata.push_back(0);  // a byte after the exchange name
  r.answers = {longrr};
  EXPECT_FALSE(parse_dns_answer(build(r), "example.test", kTypeMx));
  auto loop = mx_rr(10, "");
  loop.rdata = {0, 10, 0xc0, 0};  // pointer to the header: not a name
  r.answers = {loop};
  EXPECT_FALSE(parse_dns_answer(build(r), "example.test", kTypeMx));
}

}  // namespace
}  // namespace backstop::dnsbl
