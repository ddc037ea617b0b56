#include "common/result.h"

#include <gtest/gtest.h>

namespace backstop {
namespace {

Result<int> half(int x) {
  if (x % 2) return fail(Code::kInvalidArgument, "odd");
  return x / 2;
}

Result<int> quarter(int x) {
  auto h = half(x);
  BACKSTOP_TRY(h);
  return half(*h);
}

TEST(Result, ValueAndError) {
  auto ok = half(4);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 2);
  auto bad = half(3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.error().to_string(), "invalid-argument: odd");
}

TEST(Result, TryPropagates) {
  EXPECT_EQ(*quarter(8), 2);
  EXPECT_FALSE(quarter(6));  // 6/2 = 3 is odd
  EXPECT_FALSE(quarter(5));
}

TEST(Result, StatusVoid) {
  Status s;
  EXPECT_TRUE(s);
  Status e = fail(Code::kUnavailable, "down");
  EXPECT_FALSE(e);
  EXPECT_EQ(e.error().code(), Code::kUnavailable);
}

TEST(ResultDeathTest, InvariantAborts) {
  EXPECT_DEATH(BACKSTOP_INVARIANT(1 + 1 == 3), "broken invariant");
}

}  // namespace
}  // namespace backstop
