#include "batv/batv.h"

#include <gtest/gtest.h>

namespace backstop::batv {
namespace {

constexpr std::int64_t kDay = 19723;  // 2024-01-01

KeyRing ring_with(int key, std::string secret) {
  KeyRing r;
  EXPECT_TRUE(r.add(key, std::move(secret)));
  return r;
}

TEST(Batv, SignThenVerifyRoundTrip) {
  KeyRing ring = ring_with(3, "s3cret");
  auto s = sign(ring, {.domains = {"example.org"}}, "alice@Example.ORG", kDay);
  ASSERT_EQ(s.status, SignStatus::kSigned);
  EXPECT_TRUE(s.address.starts_with("prvs=3730")) << s.address;
  auto v = verify(ring, s.address, kDay);
  EXPECT_EQ(v.verdict, Verdict::kValid);
  EXPECT_EQ(v.address, "alice@Example.ORG");
  EXPECT_EQ(v.key, 3);
}

TEST(Batv, LifetimeWindowIsInclusiveAndStrict) {
  KeyRing ring = ring_with(0, "k");
  const std::string tagged = sign(ring, {}, "u@example.org", kDay).address;
  for (int d = 0; d <= 7; ++d) EXPECT_EQ(verify(ring, tagged, kDay + d).verdict, Verdict::kValid) << d;
  EXPECT_EQ(verify(ring, tagged, kDay + 8).verdict, Verdict::kExpired);
  EXPECT_EQ(verify(ring, tagged, kDay - 1).verdict, Verdict::kExpired)
      << "a tag expiring 8 days ahead exceeds a 7-day lifetime (future-dated)";
  EXPECT_EQ(verify(ring, tagged, kDay + 8, {.lifetime = 7, .grace_days = 1}).verdict, Verdict::kValid);
  EXPECT_EQ(verify(ring, tagged, kDay + 9, {.lifetime = 7, .grace_days = 1}).verdict, Verdict::kExpired);
}

TEST(Batv, WrapAroundAtDayMod1000) {
  KeyRing ring = ring_with(0, "k");
  // Signed on day 20995: expiry 21002 -> DDD 002.
  const std::string tagged = sign(ring, {}, "u@example.org", 20995).address;
  ASSERT_TRUE(tagged.starts_with("prvs=0002")) << tagged;
  EXPECT_EQ(verify(ring, tagged, 20995).verdict, Verdict::kValid);
  EXPECT_EQ(verify(ring, tagged, 20999).verdict, Verdict::kValid);
  EXPECT_EQ(verify(ring, tagged, 21000).verdict, Verdict::kValid);
  EXPECT_EQ(verify(ring, tagged, 21002).verdict, Verdict::kValid);
  EXPECT_EQ(verify(ring, tagged, 21003).verdict, Verdict::kExpired);
  EXPECT_EQ(verify(ring, tagged, 21500).verdict, Verdict::kExpired);
  EXPECT_EQ(expiry_stamp(20992, 7), 999);
  EXPECT_EQ(expiry_stamp(20993, 7), 0);
}

TEST(Batv, RotationKeepsOldKeysValid) {
  KeyRing ring;
  ASSERT_TRUE(ring.add(0, "old"));
  const std::string old_tag = sign(ring, {}, "u@example.org", kDay).address;
  ASSERT_TRUE(ring.add(1, "new"));
  ASSERT_TRUE(ring.set_signing_key(1));
  const std::string new_tag = sign(ring, {}, "u@example.org", kDay).address;
  EXPECT_TRUE(new_tag.starts_with("prvs=1")) << new_tag;
  EXPECT_EQ(verify(ring, old_tag, kDay + 1).verdict, Verdict::kValid);
  EXPECT_EQ(verify(ring, new_tag, kDay + 1).verdict, Verdict::kValid);

  KeyRing only_new = ring_with(1, "new");
  EXPECT_EQ(verify(only_new, old_tag, kDay).verdict, Verdict::kUnknownKey);
  KeyRing wrong = ring_with(0, "other");
  EXPECT_EQ(verify(wrong, old_tag, kDay).verdict, Verdict::kBadHash);
  EXPECT_FALSE(ring.set_signing_key(5));
}

TEST(Batv, UpperCaseHexAndTagTypeAccepted) {
  KeyRing ring = ring_with(0, "secret");
  // Exim: prvs=073032b19c=user@example.org on day 19723.
  EXPECT_EQ(verify(ring, "prvs=073032B19C=user@example.org", 19724).verdict, Verdict::kValid);
  EXPECT_EQ(verify(ring, "PRVS=073032b19c=user@example.org", 19724).verdict, Verdict::kValid);
  EXPECT_EQ(verify(ring, "prvs=073032b19d=user@example.org", 19724).verdict, Verdict::kBadHash);
  EXPECT_EQ(verify(ring, "prvs=073032b19c=User@example.org", 19724).verdict, Verdict::kBadHash)
      << "the hash covers the local part as sent";
}

TEST(Batv, DoubleTaggingRefused) {
  KeyRing ring = ring_with(0, "k");
  const std::string once = sign(ring, {}, "u@example.org", kDay).address;
  auto twice = sign(ring, {}, once, kDay);
  EXPECT_EQ(twice.status, SignStatus::kAlreadyTagged);
  EXPECT_EQ(twice.address, once);
  EXPECT_EQ(sign(ring, {}, "btv1==abc==u@example.org", kDay).status, SignStatus::kAlreadyTagged);
  EXPECT_EQ(sign(ring, {}, "srs0=hhh=tt=u@example.org", kDay).status, SignStatus::kAlreadyTagged);
  EXPECT_EQ(sign(ring, {}, "a=b@example.org", kDay).status, SignStatus::kSigned)
      << "one '=' is an ordinary local part";
}

TEST(Batv, SignsOnlyOurDomainsAndRealSenders) {
  KeyRing ring = ring_with(0, "k");
  SignerConfig ours{.domains = {"example.org", "mail.example.net"}};
  EXPECT_EQ(sign(ring, ours, "u@EXAMPLE.org", kDay).status, SignStatus::kSigned);
  EXPECT_EQ(sign(ring, ours, "u@other.example", kDay).status, SignStatus::kForeignDomain);
  EXPECT_EQ(sign(ring, ours, "u@sub.example.org", kDay).status, SignStatus::kForeignDomain);
  EXPECT_EQ(sign(ring, ours, "", kDay).status, SignStatus::kNullSender);
  EXPECT_EQ(sign(ring, ours, "user", kDay).status, SignStatus::kMalformed);
  EXPECT_EQ(sign(ring, ours, "u@", kDay).status, SignStatus::kMalformed);
  EXPECT_EQ(sign(KeyRing{}, ours, "u@example.org", kDay).status, SignStatus::kNoKey);
  EXPECT_EQ(sign(ring, ours, std::string(300, 'a') + "@example.org", kDay).status, SignStatus::kMalformed);
  // Found by fuzz_batv: a 250-byte address signs to 266 bytes, which no verifier accepts.
  const std::string near_limit = std::string(256 - 16 - 12, 'a') + "@example.org";
  auto fits = sign(ring, ours, near_limit, kDay);
  ASSERT_EQ(fits.status, SignStatus::kSigned);
  EXPECT_EQ(fits.address.size(), kMaxAddressBytes);
  EXPECT_EQ(verify(ring, fits.address, kDay).verdict, Verdict::kValid);
  EXPECT_EQ(sign(ring, ours, "a" + near_limit, kDay).status, SignStatus::kTooLong);
}

TEST(Batv, ForeignFormsRecognisedNotValidated) {
  KeyRing ring = ring_with(0, "k");
  struct Case {
    const char* in;
    const char* scheme;
    const char* untagged;
  } cases[] = {
      {"btv1==0123456789==bob@example.com", "btv1", "bob@example.com"},
      {"msprvs1=17654abcd=bounces-123@sparkpost.example", "msprvs1", "bounces-123@sparkpost.example"},
      {"prvs=bob=0730abcdef@example.com", "prvs-old", "bob@example.com"},
      {"PRVS=bob=0730ABCDEF@example.com", "prvs-old", "bob@example.com"},
  };
  for (const auto& c : cases) {
    const Parsed p = parse(c.in);
    EXPECT_EQ(p.form, Form::kForeign) << c.in;
    EXPECT_EQ(p.scheme, c.scheme) << c.in;
    auto v = verify(ring, c.in, kDay);
    EXPECT_EQ(v.verdict, Verdict::kForeignForm) << c.in;
    EXPECT_EQ(v.address, c.untagged) << c.in;
  }
}

TEST(Batv, MalformedAndUntagged) {
  KeyRing ring = ring_with(0, "k");
  EXPECT_EQ(verify(ring, "user@example.org", kDay).verdict, Verdict::kNotTagged);
  EXPECT_EQ(verify(ring, "user@example.org", kDay).address, "user@example.org");
  EXPECT_EQ(verify(ring, "a=b@example.org", kDay).verdict, Verdict::kNotTagged);
  for (const char* bad : {"", "user", "@example.org", "prvs=073032b19c=user@", "prvs=07303@x",
                          "prvs=0730zzzzzz=u@x", "prvs=0730abcdef=@x", "prvs=x730abcdef=u@x",
                          "btv1====u@x", "msprvs1==u@x"}) {
    EXPECT_EQ(verify(ring, bad, kDay).verdict, Verdict::kMalformed) << "'" << bad << "'";
  }
  EXPECT_EQ(verify(ring, "prvs=0730abcdef=" + std::string(260, 'a') + "@x", kDay).verdict,
            Verdict::kMalformed) << "over kMaxAddressBytes";
  // The last '@' separates the domain.
  auto v = verify(ring, sign(ring, {}, "\"a@b\"@example.org", kDay).address, kDay);
  EXPECT_EQ(v.verdict, Verdict::kValid);
  EXPECT_EQ(v.address, "\"a@b\"@example.org");
}

TEST(Batv, KeyRingLimits) {
  KeyRing ring;
  EXPECT_TRUE(ring.add(0, std::string(64, 'k')));
  EXPECT_EQ(ring.add(1, std::string(65, 'k')).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(ring.add(0, "again").error().code(), Code::kInvalidArgument);
  EXPECT_FALSE(ring.add(10, "x"));
  EXPECT_FALSE(ring.add(-1, "x"));
  EXPECT_EQ(*ring.signing_key(), 0);
  EXPECT_FALSE(sign_raw(std::string(65, 'k'), 0, 0, "u@x"));
  EXPECT_FALSE(sign_raw("k", 0, 1000, "u@x"));
}

TEST(Batv, VerdictNames) {
  EXPECT_EQ(verdict_name(Verdict::kBadHash), "bad-hash");
  EXPECT_EQ(verdict_name(Verdict::kNotTagged), "not-tagged");
  EXPECT_EQ(verdict_name(Verdict::kForeignForm), "foreign-form");
  EXPECT_EQ(verdict_name(Verdict::kUnknownKey), "unknown-key");
}

}  // namespace
}  // namespace backstop::batv
