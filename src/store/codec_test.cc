#include "store/codec.h"

#include <gtest/gtest.h>

namespace backstop::store::codec {
namespace {

TEST(Codec, LedgerRoundTrip) {
  LedgerEntry e{-5, "a@b", {"c@d", "", "e@f"}};
  auto d = decode_ledger(encode_ledger(e));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, e);
}

TEST(Codec, LedgerEnvidRoundTripAndOldValues) {
  LedgerEntry e{7, "a@b", {"c@d"}, "QQ+2B1"};
  auto d = decode_ledger(encode_ledger(e));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, e);
  // A value written before the ENVID existed: version, time 7 (zig-zag 14),
  // sender, one recipient, nothing after.
  const std::string old = {static_cast<char>(kFormatVersion), 14, 3, 'a', '@', 'b', 1, 3, 'c', '@', 'd'};
  auto o = decode_ledger(old);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->envid, "");
  EXPECT_EQ(o->recipients, std::vector<std::string>{"c@d"});
  EXPECT_EQ(encode_ledger(*o), old) << "no ENVID, no trailing field";
  // A trailing field that is empty, over the limit or holds a NUL is damage.
  EXPECT_FALSE(decode_ledger(old + std::string(1, '\0')));
  EXPECT_FALSE(decode_ledger(old + static_cast<char>(kMaxEnvidBytes + 1) + std::string(kMaxEnvidBytes + 1, 'x')));
  EXPECT_FALSE(decode_ledger(old + std::string("\2a\0", 3)));
  EXPECT_FALSE(decode_ledger(encode_ledger(e) + "x")) << "bytes after the ENVID";
}

TEST(Codec, ListingRoundTrip) {
  Listing l{"192.0.2.1", {{"bounce", 300}, {"autoreply", 1}}, 10, 1'800'000'000,
            {"bounce", "<x@y>", 1'800'000'000}, true};
  auto d = decode_listing(encode_listing(l));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, l);
}

TEST(Codec, CounterAndRecordRoundTrip) {
  auto c = decode_counter(encode_counter({INT64_MIN, INT64_MAX}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->value, INT64_MIN);
  EXPECT_EQ(c->expires_at, INT64_MAX);
  auto r = decode_record(encode_record(7, std::string("\0\1", 2)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, std::string("\0\1", 2));
}

TEST(Codec, EveryTruncationIsMalformed) {
  const std::string full = encode_ledger({1, "a@b", {"c@d", "e@f"}});
  for (std::size_t n = 0; n < full.size(); ++n) {
    auto d = decode_ledger(std::string_view(full).substr(0, n));
    ASSERT_FALSE(d) << n;
    EXPECT_EQ(d.error().code(), Code::kMalformed);
  }
  EXPECT_FALSE(decode_ledger(full + "x")) << "trailing bytes";
}

TEST(Codec, DamageIsDetectedNotTrusted) {
  std::string wrong_version = encode_counter({1, 2});
  wrong_version[0] = 9;
  EXPECT_FALSE(decode_counter(wrong_version));
  // A huge recipient count must not allocate.
  std::string huge = {static_cast<char>(kFormatVersion), 2, 0, '\xff', '\xff', '\xff', '\xff', '\x0f'};
  EXPECT_FALSE(decode_ledger(huge));
  // An 11-byte varint overflows.
  std::string overflow(1, static_cast<char>(kFormatVersion));
  overflow.append(10, '\xff');
  overflow.push_back('\x01');
  EXPECT_FALSE(decode_counter(overflow));
}

TEST(Codec, ListingSelfDelistsIsOptionalOnTheWire) {
  Listing l;
  l.ip = "192.0.2.1";
  l.hits["bounce"] = 2;
  l.listed = true;
  const std::string old_form = encode_listing(l);  // as written before self_delists existed
  auto back = decode_listing(old_form);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->self_delists, 0u);
  l.self_delists = 3;
  const std::string with = encode_listing(l);
  EXPECT_EQ(with.size(), old_form.size() + 1);
  EXPECT_EQ(decode_listing(with)->self_delists, 3u);
  EXPECT_FALSE(decode_listing(old_form + std::string(1, '\0'))) << "a zero count is not canonical";
  EXPECT_FALSE(decode_listing(with + "x"));
}

TEST(Codec, ItemLists) {
  const std::vector<std::string> items = {"a", "", std::string("b\0c", 3)};
  auto back = decode_items(encode_items(items));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, items);
  EXPECT_TRUE(decode_items(encode_items({}))->empty());
  EXPECT_FALSE(decode_items(""));
  EXPECT_FALSE(decode_items(std::string("\x05\x01" "a", 3))) << "fewer items than counted";
  EXPECT_FALSE(decode_items(std::string("\x01\x09" "ab", 4))) << "an item past the end";
  EXPECT_FALSE(decode_items(std::string("\x01\x01" "ab", 4))) << "trailing bytes";
  EXPECT_FALSE(decode_items("\xff\xff\xff\xff\x0f")) << "a huge count must not allocate";
}

TEST(Codec, TimeKeysSortByTime) {
  EXPECT_LT(time_key(-1, "z"), time_key(0, "a"));
  EXPECT_LT(time_key(5, "z"), time_key(6, "a"));
  std::int64_t t = 0;
  std::string_view rest;
  const std::string k = time_key(-123456789, "<id@x>");
  ASSERT_TRUE(split_time_key(k, &t, &rest));
  EXPECT_EQ(t, -123456789);
  EXPECT_EQ(rest, "<id@x>");
  EXPECT_FALSE(split_time_key("short", &t, &rest));
}

}  // namespace
}  // namespace backstop::store::codec
