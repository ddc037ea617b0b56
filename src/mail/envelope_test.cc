#include "mail/envelope.h"

#include <gtest/gtest.h>

namespace backstop::mail {
namespace {

TEST(Envelope, DefaultIsUnknown) {
  Envelope e;
  EXPECT_FALSE(e.known);
  EXPECT_TRUE(e.mail_from.empty());
}

TEST(Envelope, FromMboxLineSenders) {
  EXPECT_FALSE(envelope_from_mbox("").known);
  EXPECT_FALSE(envelope_from_mbox(" \t").known);
  for (std::string_view null : {"<>", "MAILER-DAEMON", "mailer-daemon", " <> "}) {
    const Envelope e = envelope_from_mbox(null);
    EXPECT_TRUE(e.known) << null;
    EXPECT_EQ(e.mail_from, "") << null;
  }
  EXPECT_TRUE(envelope_from_mbox("a@b.example").known);
  EXPECT_EQ(envelope_from_mbox("a@b.example").mail_from, "a@b.example");
  EXPECT_EQ(envelope_from_mbox("<a@b.example>").mail_from, "a@b.example");
  EXPECT_EQ(envelope_from_mbox("MAILER-DAEMON@b.example").mail_from, "MAILER-DAEMON@b.example");
  EXPECT_TRUE(envelope_from_mbox("a@b.example").rcpts.empty());
  EXPECT_TRUE(envelope_from_mbox("a@b.example").client_ip.empty());
}

}  // namespace
}  // namespace backstop::mail
