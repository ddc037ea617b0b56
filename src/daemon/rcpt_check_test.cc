#include "daemon/rcpt_check.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "batv/batv.h"
#include "daemon/milter_filter.h"
#include "daemon/policy_handler.h"

namespace backstop::daemon {
namespace {

constexpr std::int64_t kT0 = 1'795'000'000;
constexpr std::int64_t kDay = 86400;

using Kind = RcptCheck::Kind;

class RcptCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("backstop-rcpt-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // An engine for example.org, the trap trap@example.org and `extra`.
  void start(const std::string& extra) {
    auto cfg = config::Config::parse("state.dir = \"" + dir_.string() +
                                     "\"\ndomains.local = [\"example.org\"]\n"
                                     "trap.addresses = [\"trap@example.org\"]\n" + extra);
    ASSERT_TRUE(cfg) << cfg.error().to_string();
    EngineOptions o;
    o.clock = &clock_;
    o.memory_store = true;
    auto e = Engine::create(*cfg, std::move(o));
    ASSERT_TRUE(e) << e.error().to_string();
    engine_ = std::move(*e);
  }

  RcptCheck check(std::string_view sender, std::string_view rcpt) {
    return check_rcpt(*engine_, *engine_->snapshot(), sender, rcpt,
                      [this](std::string_view l) { logs_.emplace_back(l); });
  }

  std::string sign(const std::string& addr) {
    auto s = engine_->snapshot();
    auto r = batv::sign(s->keys, s->signer, addr, clock_.unix_day());
    EXPECT_EQ(r.status, batv::SignStatus::kSigned);
    return r.address;
  }

  // The value of backstop_batv_recipients_total{action, result}, 0 if absent.
  int counted(const std::string& action, const std::string& result) {
    const std::string key =
        "backstop_batv_recipients_total{action=\"" + action + "\",result=\"" + result + "\"} ";
    const std::string text = engine_->metrics().render();
    auto at = text.find(key);
    return at == std::string::npos ? 0 : std::stoi(text.substr(at + key.size()));
  }

  std::filesystem::path dir_;
  ManualClock clock_{kT0};
  std::unique_ptr<Engine> engine_;
  std::vector<std::string> logs_;
};

TEST_F(RcptCheckTest, ValidTagIsAcceptedWithTheUntaggedAddress) {
  start("batv.mode = \"enforce\"\nbatv.grace_days = 0\n");
  const std::string tagged = sign("alice@example.org");
  auto c = check("", tagged);
  EXPECT_EQ(c.kind, Kind::kAccept);
  EXPECT_EQ(c.untagged, "alice@example.org");
  EXPECT_EQ(counted("accept", "valid"), 1);
  // the same from MAILER-DAEMON, in tag mode too
  EXPECT_EQ(check("MAILER-DAEMON@remote.example", tagged).kind, Kind::kAccept);
  EXPECT_TRUE(logs_.empty());
}

TEST_F(RcptCheckTest, MissingTagWithBatvOffIsNotChecked) {
  start("batv.mode = \"off\"\n");
  EXPECT_EQ(check("", "alice@example.org").kind, Kind::kUnchecked);
  EXPECT_EQ(engine_->metrics().render().find("backstop_batv_recipients_total{"), std::string::npos);
}

TEST_F(RcptCheckTest, MissingTagInTagModeIsRecorded) {
  start("batv.mode = \"tag\"\nbatv.grace_days = 0\n");
  EXPECT_EQ(check("", "alice@example.org").kind, Kind::kRecord);
  EXPECT_EQ(counted("record", "not-tagged"), 1);
  EXPECT_TRUE(logs_.empty());
}

TEST_F(RcptCheckTest, MissingTagInTheGracePeriodIsCountedAsGrace) {
  start("batv.mode = \"enforce\"\nbatv.grace_days = 2\n");
  EXPECT_EQ(check("", "alice@example.org").kind, Kind::kRecord);
  EXPECT_EQ(counted("grace", "not-tagged"), 1);
  EXPECT_EQ(counted("record", "not-tagged"), 0);
  EXPECT_TRUE(logs_.empty());
  clock_.set(kT0 + 2 * kDay);  // the grace period is over
  EXPECT_EQ(check("", "alice@example.org").kind, Kind::kReject);
  EXPECT_EQ(counted("reject", "not-tagged"), 1);
}

TEST_F(RcptCheckTest, MissingOrBadTagUnderEnforcementIsRejectedAndLogged) {
  start("batv.mode = \"enforce\"\nbatv.grace_days = 0\n");
  auto c = check("", "alice@example.org");
  EXPECT_EQ(c.kind, Kind::kReject);
  EXPECT_EQ(c.code, 550);
  EXPECT_EQ(c.status, "5.7.1");
  EXPECT_EQ(c.text, "<alice@example.org>: invalid or missing BATV tag on a bounce");
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_EQ(logs_[0], "role=batv rcpt=alice@example.org batv=not-tagged action=reject");
  // a tag whose hash does not match
  std::string forged = sign("alice@example.org");
  forged[forged.find('=') + 5] = forged[forged.find('=') + 5] == '0' ? '1' : '0';
  auto f = check("MAILER-DAEMON@remote.example", forged);
  EXPECT_EQ(f.kind, Kind::kReject);
  EXPECT_EQ(counted("reject", "bad-hash"), 1);
  EXPECT_EQ(counted("reject", "not-tagged"), 1);
}

TEST_F(RcptCheckTest, TrapRecipientsAreNeverChecked) {
  start("batv.mode = \"enforce\"\nbatv.grace_days = 0\n");
  EXPECT_EQ(check("", "trap@example.org").kind, Kind::kTrap);
  EXPECT_EQ(check("", "TRAP@example.org").kind, Kind::kTrap);
  EXPECT_EQ(check("spammer@bad.example", "trap@example.org").kind, Kind::kTrap);
  EXPECT_EQ(engine_->metrics().render().find("backstop_batv_recipients_total{"), std::string::npos);
  EXPECT_TRUE(logs_.empty());
}

TEST_F(RcptCheckTest, OtherSendersAndForeignRecipientsAreNotChecked) {
  start("batv.mode = \"enforce\"\nbatv.grace_days = 0\n");
  EXPECT_EQ(check("", "bob@elsewhere.example").kind, Kind::kUnchecked);
  EXPECT_EQ(check("someone@remote.example", "alice@example.org").kind, Kind::kUnchecked);
  EXPECT_EQ(check("mailer-daemonx@remote.example", "alice@example.org").kind, Kind::kUnchecked);
  EXPECT_EQ(engine_->metrics().render().find("backstop_batv_recipients_total{"), std::string::npos);
}

// The milter and the policy service answer a recipient the same way, and
// count it the same way.
TEST_F(RcptCheckTest, MilterAndPolicyServiceGiveTheSameReply) {
  start("batv.mode = \"enforce\"\nbatv.grace_days = 0\n");
  BackstopFilter filter(engine_.get(), nullptr);
  PolicyHandler policy(engine_.get(), nullptr);
  auto milter_reply = [&](const std::string& sender, const std::string& rcpt) {
    milter::ConnectionInfo conn{"[203.0.113.7]", '4', 25000, "203.0.113.7", "mx.remote.example"};
    milter::MessageInfo msg;
    msg.sender = "<" + sender + ">";
    milter::Macros macros;
    milter::Context ctx{conn, msg, macros};
    auto h = filter.open();
    h->on_mail(ctx, [](milter::Action) {});
    milter::Action a;
    h->on_rcpt(ctx, {"<" + rcpt + ">", {}}, [&](milter::Action x) { a = x; });
    if (a.kind == milter::Action::Kind::kContinue) return std::string("DUNNO");
    return std::to_string(a.code) + " " + a.xcode + " " + a.text;
  };
  auto policy_reply = [&](const std::string& sender, const std::string& rcpt) {
    policyd::Request r;
    r.add("request", "smtpd_access_policy");
    r.add("protocol_state", "RCPT");
    r.add("sender", sender);
    r.add("recipient", rcpt);
    r.add("client_address", "203.0.113.7");
    std::string answer;
    policy.check(r, [&](std::string a) { answer = std::move(a); });
    return answer;
  };
  const std::string tagged = sign("alice@example.org");
  for (const auto& [sender, rcpt] : std::vector<std::pair<std::string, std::string>>{
           {"", "alice@example.org"},
           {"MAILER-DAEMON@remote.example", "alice@example.org"},
           {"", tagged},
           {"", "trap@example.org"},
           {"", "bob@elsewhere.example"},
           {"someone@remote.example", "alice@example.org"}}) {
    EXPECT_EQ(milter_reply(sender, rcpt), policy_reply(sender, rcpt)) << sender << " -> " << rcpt;
  }
  // each adapter counted each case once
  EXPECT_EQ(counted("reject", "not-tagged"), 4);
  EXPECT_EQ(counted("accept", "valid"), 2);
  EXPECT_EQ(policy_reply("", "alice@example.org"),
            "550 5.7.1 <alice@example.org>: invalid or missing BATV tag on a bounce");
}

TEST(IsBounceSender, Forms) {
  EXPECT_TRUE(is_bounce_sender(""));
  EXPECT_TRUE(is_bounce_sender("MAILER-DAEMON"));
  EXPECT_TRUE(is_bounce_sender("mailer-daemon@mx.remote.example"));
  EXPECT_FALSE(is_bounce_sender("postmaster@remote.example"));
  EXPECT_FALSE(is_bounce_sender("mailer-daemon.x@remote.example"));
}

}  // namespace
}  // namespace backstop::daemon
