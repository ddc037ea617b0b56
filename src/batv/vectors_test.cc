// Every row of ../shared/data/prvs-vectors.tsv (Exim 4.96 output with the clock
// pinned). Signing rows must match byte for byte; checking rows are judged by
// our stricter rule (protocols.md §1.3), and where Exim accepts a tag we
// reject, the assertion message says why.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "batv/batv.h"

namespace backstop::batv {
namespace {

struct Row {
  std::vector<std::string> f;  // kind, time, day, address, secret, keynum, exim, model, agree, note
  const std::string& kind() const { return f[0]; }
  std::int64_t day() const { return std::stoll(f[2]); }
  const std::string& address() const { return f[3]; }
  std::string secret() const { return f[4] == "(empty)" ? "" : f[4]; }
  int keynum() const { return f[5] == "(omitted)" || f[5] == "-" ? 0 : std::stoi(f[5]); }
  const std::string& exim() const { return f[6]; }
  const std::string& model() const { return f[7]; }
  const std::string& note() const { return f[9]; }
};

std::vector<Row> load_rows() {
  const char* shared = std::getenv("BACKSTOP_SHARED");
  EXPECT_NE(shared, nullptr) << "BACKSTOP_SHARED is set by backstop_test()";
  std::vector<Row> rows;
  if (!shared) return rows;
  std::ifstream in(std::string(shared) + "/data/prvs-vectors.tsv");
  EXPECT_TRUE(in.good()) << "cannot read prvs-vectors.tsv";
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.starts_with("kind\t")) continue;
    Row r;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, '\t')) r.f.push_back(field);
    EXPECT_EQ(r.f.size(), 10u) << line;
    if (r.f.size() == 10) rows.push_back(std::move(r));
  }
  return rows;
}

Verdict draft_verdict(const std::string& word) {
  if (word == "valid") return Verdict::kValid;
  if (word == "expired") return Verdict::kExpired;
  if (word == "badhash") return Verdict::kBadHash;
  if (word == "notprvs") return Verdict::kNotTagged;
  ADD_FAILURE() << "unknown model verdict " << word;
  return Verdict::kMalformed;
}

TEST(PrvsVectors, SigningRowsByteForByte) {
  int rows = 0, refused = 0;
  for (const Row& r : load_rows()) {
    if (r.kind() != "sign") continue;
    ++rows;
    SCOPED_TRACE(r.note());
    auto raw = sign_raw(r.secret(), r.keynum(), expiry_stamp(r.day(), kDefaultLifetimeDays), r.address());
    if (r.exim().starts_with("Failed:")) {
      ++refused;
      EXPECT_FALSE(raw) << "Exim refuses this row (" << r.exim() << "), so must we";
      continue;
    }
    ASSERT_TRUE(raw) << raw.error().to_string();
    EXPECT_EQ(*raw, r.exim());

    // The signing policy gives the same bytes, except that it never tags twice.
    KeyRing ring;
    ASSERT_TRUE(ring.add(r.keynum(), r.secret()));
    auto signed_ = sign(ring, {}, r.address(), r.day());
    if (looks_tagged(r.address())) {
      EXPECT_EQ(signed_.status, SignStatus::kAlreadyTagged)
          << "Exim tags an already-tagged address again; the draft says leave it unchanged";
      EXPECT_EQ(signed_.address, r.address());
    } else {
      EXPECT_EQ(signed_.status, SignStatus::kSigned);
      EXPECT_EQ(signed_.address, r.exim());
    }
  }
  EXPECT_EQ(rows, 19);
  EXPECT_EQ(refused, 2);
}

TEST(PrvsVectors, CheckingRowsWithTheStrictRule) {
  int rows = 0, stricter = 0;
  for (const Row& r : load_rows()) {
    if (r.kind() != "check") continue;
    ++rows;
    SCOPED_TRACE(r.note());
    KeyRing ring;
    ASSERT_TRUE(ring.add(0, r.secret()));
    const Verification v = verify(ring, r.address(), r.day());
    const auto bar = r.model().find('|');
    ASSERT_NE(bar, std::string::npos);
    const Verdict want = draft_verdict(r.model().substr(bar + 1));
    const bool exim_valid = r.exim().starts_with("result=valid");
    EXPECT_EQ(verdict_name(v.verdict), verdict_name(want));
    if (exim_valid && want != Verdict::kValid) {
      ++stricter;
      EXPECT_EQ(v.verdict, Verdict::kExpired)
          << "Exim accepts this tag only because its expiry test is DDD >= today mod 1000; "
             "the draft's window (DDD - today mod 1000) mod 1000 <= 7 rejects it";
    }
    if (!exim_valid && want == Verdict::kValid) {
      EXPECT_EQ(v.verdict, Verdict::kValid)
          << "Exim compares the hex case-sensitively; we compare case-insensitively (§1.3)";
    }
    // The untagged address agrees with $prvscheck_address.
    if (auto at = r.exim().find(";addr="); at != std::string::npos) {
      auto end = r.exim().find(';', at + 6);
      EXPECT_EQ(v.address, r.exim().substr(at + 6, end - at - 6));
    } else {
      EXPECT_EQ(v.address, r.address());
    }
  }
  EXPECT_EQ(rows, 18);
  EXPECT_EQ(stricter, 4) << "the four Exim acceptances the draft rule rejects";
}

}  // namespace
}  // namespace backstop::batv
