#include "dnsbl/evidence.h"

#include <gtest/gtest.h>

#include <string>

#include "common/clock.h"

namespace backstop::dnsbl {
namespace {

TEST(Redactor, AddressesAndTheirVerpForm) {
  Redactor r({"Spam.Trap7@Example.org", "<t2@example.net>"}, {});
  EXPECT_EQ(r.redact("To: spam.trap7@EXAMPLE.ORG, bob@example.org"), "To: [trap address], bob@example.org");
  EXPECT_EQ(r.redact("Return-Path: <bounces+spam.trap7=example.org@list.example>"),
            "Return-Path: <bounces+[trap address]@list.example>");
  EXPECT_EQ(r.redact("for <T2@example.net>;"), "for <[trap address]>;");
  EXPECT_EQ(r.redact("nothing here"), "nothing here");
}

TEST(Redactor, DomainsWholeAndAsSuffix) {
  Redactor r({}, {"trap.example", ".Spamtrap.Test"});
  EXPECT_EQ(r.redact("by mx1.TRAP.example (Postfix) for <x@trap.example>;"),
            "by [trap domain] (Postfix) for <x@[trap domain]>;");
  EXPECT_EQ(r.redact("nottrap.example trap.example2 trap-example"), "nottrap.example trap.example2 trap-example");
  EXPECT_EQ(r.redact("a.b.spamtrap.test spamtrap.test."), "[trap domain] [trap domain].");
  EXPECT_EQ(r.redact("trap.example.evil.test"), "[trap domain].evil.test") << "over-redacting is safe";
  EXPECT_EQ(r.redact("x=trap.example@verp.test"), "x=[trap domain]@verp.test");
  EXPECT_EQ(r.redact("trap.exampletrap.example"), "trap.exampletrap.example");
  EXPECT_EQ(r.redact("trap.example,trap.example"), "[trap domain],[trap domain]");
  EXPECT_TRUE(Redactor({}, {}).empty());
}

TEST(Evidence, HeadersAreRedactedAndEncodedWordsCannotHideATrap) {
  Redactor r({"trap@example.org"}, {"traps.test"});
  auto parsed = mail::parse_header_section(
      "Received: from bouncer (bouncer [198.51.100.23])\r\n\tby mx.traps.test for <a@traps.test>; Mon, 2 Nov 2026\r\n"
      "To: =?utf-8?B?dHJhcEBleGFtcGxlLm9yZw==?=\r\n"   // trap@example.org, base64
      "Subject: =?utf-8?Q?hello_world?=\r\n"
      "X-Evil: <script>alert(1)</script>\r\n\r\nbody");
  bool truncated = true;
  const std::string h = evidence_headers(parsed.headers, r, &truncated);
  EXPECT_FALSE(truncated);
  EXPECT_NE(h.find("by [trap domain] for <a@[trap domain]>;"),
            std::string::npos) << h;
  EXPECT_NE(h.find("To: [trap address]\n"), std::string::npos) << h;
  EXPECT_NE(h.find("Subject: =?utf-8?Q?hello_world?=\n"), std::string::npos) << "raw unless it hides a trap";
  EXPECT_NE(h.find("X-Evil: <script>alert(1)</script>\n"), std::string::npos) << "kept as text; the page escapes";
  EXPECT_EQ(h.find("example.org"), std::string::npos);
  EXPECT_EQ(h.find("traps.test"), std::string::npos);
}

TEST(Evidence, LargeHeaderSectionsAreCutAtAFieldBoundary) {
  Redactor r({}, {"traps.test"});
  std::string raw;
  for (int i = 0; i < 200; ++i) raw += "X-Filler-" + std::to_string(i) + ": " + std::string(100, 'x') + "\n";
  raw += "X-Huge: " + std::string(100 * 1024, 'y') + "\n\n";
  auto parsed = mail::parse_header_section(raw);
  bool truncated = false;
  const std::string h = evidence_headers(parsed.headers, r, &truncated);
  EXPECT_TRUE(truncated);
  EXPECT_LE(h.size(), kMaxEvidenceHeaderBytes);
  EXPECT_EQ(h.back(), '\n');
  // A huge field first cannot hide the fields after it: it is cut.
  auto huge = mail::parse_header_section("X-Huge: " + std::string(100 * 1024, 'y') +
                                         "\nReceived: from a.example [198.51.100.1] by mx.traps.test\n\n");
  const std::string one = evidence_headers(huge.headers, r, &truncated);
  EXPECT_TRUE(truncated);
  EXPECT_LT(one.size(), kMaxEvidenceFieldBytes + 100);
  EXPECT_NE(one.find("yyyy [... "), std::string::npos) << one.substr(0, 100);
  EXPECT_NE(one.find("bytes cut]\nReceived: from a.example [198.51.100.1] by [trap domain]\n"), std::string::npos);
}

TEST(Evidence, EncodingRoundTripsAndRefusesDamage) {
  EvidenceEntry e{1'790'000'000, "bounce", std::string("A: b\n\0\xff\n", 8), true};
  auto back = decode_evidence(encode_evidence(e));
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, e);
  for (const char* bad : {"", "1 5 bounce 0", "2 5 bounce 0\n", "1 x bounce 0\n", "1 5 bo/unce 0\n",
                          "1 5 bounce 2\n", "1 5  0\n", "1 5 bounce 0 extra\n"}) {
    EXPECT_FALSE(decode_evidence(bad)) << bad;
  }
  EXPECT_FALSE(decode_evidence("1 5 bounce 0\n" + std::string(kMaxEvidenceHeaderBytes + 1, 'a')));
}

TEST(Evidence, BoundedPerIpInTheStore) {
  ManualClock clock{1'790'000'000};
  auto store = store::make_memory_store({&clock});
  std::size_t bytes = 0;
  for (int i = 0; i < 12; ++i) {
    EvidenceEntry e{clock.now_unix() + i, "bounce", std::string(kMaxEvidenceHeaderBytes, 'h'), false};
    const store::WriteOp op = evidence_append("192.0.2.1", e, {}, 90);
    ASSERT_TRUE(store->apply(std::span<const store::WriteOp>(&op, 1)));
    bytes = (*store->record_get(evidence_key("192.0.2.1")))->size();
  }
  EXPECT_LE(bytes, kMaxEvidenceBytesPerIp);
  auto ev = load_evidence(*store, "192.0.2.1");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->size(), kMaxEvidencePerIp);
  EXPECT_EQ(ev->front().time, clock.now_unix() + 11);
  EXPECT_EQ(evidence_append("192.0.2.1", {}, {}, 90).expires_at, 28 * 8 * 86400 + 90 * 86400);
}

}  // namespace
}  // namespace backstop::dnsbl
