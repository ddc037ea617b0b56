#include "mail/mailbox.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace backstop::mail {
namespace {

std::vector<Result<RawMessage>> split(std::string_view in, std::size_t chunk, std::size_t cap = kMaxMessageBytes) {
  MboxSplitter s(cap);
  std::vector<Result<RawMessage>> out;
  for (std::size_t i = 0; i < in.size(); i += chunk) {
    s.feed(in.substr(i, chunk));
    while (auto m = s.next()) out.push_back(std::move(*m));
  }
  s.finish();
  while (auto m = s.next()) out.push_back(std::move(*m));
  return out;
}

const char kMbox[] =
    "From alice@example.com Thu Sep 18 17:54:04 2008\n"
    "Subject: one\n"
    "\n"
    "body one\n"
    ">From quoted\n"
    ">>From twice\n"
    "\n"
    "From MAILER-DAEMON  Mon Feb  9 12:36:39 2009\n"
    "Subject: two\n"
    "\n"
    "From this line is not a separator because it has no date\n"
    "\n";

TEST(MboxSplitter, SplitsInAnyChunking) {
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u, 100000u}) {
    auto out = split(kMbox, chunk);
    ASSERT_EQ(out.size(), 2u) << chunk;
    ASSERT_TRUE(out[0].has_value());
    ASSERT_TRUE(out[1].has_value());
    EXPECT_EQ(out[0]->envelope_from, "alice@example.com");
    EXPECT_EQ(out[0]->bytes, "Subject: one\n\nbody one\nFrom quoted\n>From twice\n");
    EXPECT_EQ(out[0]->index, 0u);
    EXPECT_EQ(out[0]->offset, 0u);
    EXPECT_EQ(out[1]->envelope_from, "MAILER-DAEMON");
    EXPECT_EQ(out[1]->bytes, "Subject: two\n\nFrom this line is not a separator because it has no date\n");
    EXPECT_EQ(out[1]->index, 1u);
    EXPECT_EQ(out[1]->offset, std::string_view(kMbox).find("From MAILER"));
  }
}

TEST(MboxSplitter, OversizeMessageIsReportedAndSkipped) {
  std::string in = "From a Thu Sep 18 17:54:04 2008\nSubject: big\n\n";
  in += std::string(5000, 'x') + "\n\n";
  in += "From b Thu Sep 18 17:54:04 2008\nSubject: small\n\nok\n";
  auto out = split(in, 100, 1024);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_FALSE(out[0].has_value());
  EXPECT_EQ(out[0].error().code(), Code::kTooLarge);
  ASSERT_TRUE(out[1].has_value());
  EXPECT_EQ(out[1]->bytes, "Subject: small\n\nok\n");
  EXPECT_EQ(out[1]->index, 1u);
}

}  // namespace
}  // namespace backstop::mail
