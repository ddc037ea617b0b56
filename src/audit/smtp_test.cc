#include "audit/smtp.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <vector>

namespace backstop::audit {
namespace {

std::vector<Reply> parse_all(std::string_view bytes, bool* ok = nullptr) {
  ReplyParser p;
  std::vector<Reply> out;
  auto st = p.feed(bytes, &out);
  if (ok) *ok = st.has_value();
  return out;
}

TEST(ReplyParser, SingleAndMultilineReplies) {
  auto r = parse_all("220 mx.example.test ESMTP\r\n250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].code, 220);
  EXPECT_EQ(r[0].first_line(), "220 mx.example.test ESMTP");
  EXPECT_EQ(r[1].code, 250);
  ASSERT_EQ(r[1].lines.size(), 3u);
  EXPECT_EQ(r[1].lines[2], "8BITMIME");
  EXPECT_EQ(r[1].kind(), 2);
}

TEST(ReplyParser, AnySplitGivesTheSameReplies) {
  const std::string stream = "250-a\r\n250-b\n250 c\r\n550 5.1.1 <x@y>: Recipient address rejected\r\n354\r\n";
  const auto whole = parse_all(stream);
  ASSERT_EQ(whole.size(), 3u);
  ReplyParser p;
  std::vector<Reply> bytewise;
  for (char c : stream) ASSERT_TRUE(p.feed(std::string_view(&c, 1), &bytewise));
  ASSERT_EQ(bytewise.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(bytewise[i].code, whole[i].code);
    EXPECT_EQ(bytewise[i].lines, whole[i].lines);
  }
  EXPECT_TRUE(p.idle());
  EXPECT_EQ(whole[2].code, 354);  // a bare code is a whole reply
}

TEST(ReplyParser, PartialReplyIsHeldUntilItsLastLine) {
  ReplyParser p;
  std::vector<Reply> out;
  ASSERT_TRUE(p.feed("250-one\r\n250-tw", &out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(p.idle());
  ASSERT_TRUE(p.feed("o\r\n250 three\r\n", &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].lines, (std::vector<std::string>{"one", "two", "three"}));
}

TEST(ReplyParser, HostileInputIsRefused) {
  bool ok = true;
  parse_all("hello\r\n", &ok);
  EXPECT_FALSE(ok);
  parse_all("250-a\r\n251 b\r\n", &ok);  // code changes inside a reply
  EXPECT_FALSE(ok);
  parse_all("199 too low\r\n", &ok);
  EXPECT_FALSE(ok);
  parse_all("260 second digit\r\n", &ok);
  EXPECT_FALSE(ok);
  parse_all("250x\r\n", &ok);
  EXPECT_FALSE(ok);
  parse_all("25\r\n", &ok);
  EXPECT_FALSE(ok);
  parse_all("\r\n", &ok);
  EXPECT_FALSE(ok);
}

TEST(ReplyParser, LongLineIsRefusedWithoutBufferingIt) {
  ReplyParser p;
  std::vector<Reply> out;
  std::string line = "250 " + std::string(kMaxReplyLineBytes, 'a');
  auto st = p.feed(line, &out);  // no newline yet: refused as soon as it is too long
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kTooLarge);
  EXPECT_FALSE(p.feed("\r\n", &out));  // stays failed
  EXPECT_TRUE(out.empty());
}

TEST(ReplyParser, LineAtTheLimitIsAccepted) {
  std::string line = "250 " + std::string(kMaxReplyLineBytes - 4, 'a') + "\r\n";
  bool ok = false;
  auto r = parse_all(line, &ok);
  EXPECT_TRUE(ok);
  ASSERT_EQ(r.size(), 1u);
}

TEST(ReplyParser, EndlessMultilineReplyIsCutOff) {
  std::string s;
  for (std::size_t i = 0; i < kMaxReplyLines + 1; ++i) s += "250-x\r\n";
  bool ok = true;
  parse_all(s, &ok);
  EXPECT_FALSE(ok);
}

TEST(ReplyParser, KeptTextIsBounded) {
  std::string s;
  const std::string text(1000, 'b');
  for (int i = 0; i < 20; ++i) s += "250-" + text + "\r\n";
  s += "250 end\r\n";
  auto r = parse_all(s);
  ASSERT_EQ(r.size(), 1u);
  std::size_t kept = 0;
  for (const auto& l : r[0].lines) kept += l.size();
  EXPECT_LE(kept, kMaxKeptReplyBytes);
  EXPECT_GT(r[0].dropped_lines, 0u);
}

TEST(SmtpCodec, CommandsRefuseLineBreaks) {
  EXPECT_EQ(format_command("RCPT", "TO:<a@b.test>").value(), "RCPT TO:<a@b.test>\r\n");
  EXPECT_EQ(format_command("QUIT").value(), "QUIT\r\n");
  EXPECT_FALSE(format_command("RCPT", "TO:<a@b>\r\nDATA"));
  EXPECT_FALSE(format_command("RCPT", std::string_view("TO:<a\0b>", 8)));
  EXPECT_FALSE(format_command("MAIL\n", "FROM:<>"));
}

TEST(SmtpCodec, DotStuffing) {
  EXPECT_EQ(dot_stuff("a\r\n.b\n..c\nlast"), "a\r\n..b\r\n...c\r\nlast\r\n.\r\n");
  EXPECT_EQ(dot_stuff(".\r\n"), "..\r\n.\r\n");
  EXPECT_EQ(dot_stuff(""), ".\r\n");
}

TEST(SmtpCodec, ProbeDomainsAndAddresses) {
  EXPECT_TRUE(valid_probe_domain("example.org"));
  EXPECT_TRUE(valid_probe_domain("[127.0.0.1]"));
  EXPECT_FALSE(valid_probe_domain("exa mple.org"));
  EXPECT_FALSE(valid_probe_domain("a..b"));
  EXPECT_FALSE(valid_probe_domain("x>\r\nDATA"));
  EXPECT_FALSE(valid_probe_domain(std::string(64, 'a') + ".org"));
  EXPECT_TRUE(valid_probe_address("backstop-audit@mx.example.org"));
  EXPECT_FALSE(valid_probe_address("a>b@example.org"));
  EXPECT_FALSE(valid_probe_address("@example.org"));
  EXPECT_FALSE(valid_probe_address("nobody"));
}

// A scripted server: the reply to each command, by verb (and for RCPT, by
// whether it names postmaster), with the null sender told apart.
struct Server {
  std::string greeting = "220 mx.example.test ESMTP";
  std::string ehlo = "250-mx.example.test\r\n250 PIPELINING";
  std::string helo = "250 mx.example.test";
  std::string mail = "250 2.1.0 Ok";
  std::string mail_null = "250 2.1.0 Ok";
  std::string rcpt_random = "550 5.1.1 <x>: Recipient address rejected: User unknown";
  std::string rcpt_postmaster = "250 2.1.5 Ok";
  std::string data = "354 End data with <CR><LF>.<CR><LF>";
  std::string end = "250 2.0.0 Ok: queued as 1234";
};

Reply reply(const std::string& s) {
  ReplyParser p;
  std::vector<Reply> out;
  EXPECT_TRUE(p.feed(s + "\r\n", &out));
  EXPECT_EQ(out.size(), 1u);
  return out.empty() ? Reply{} : out[0];
}

ProbePlan plan(bool capture = false) {
  ProbePlan p;
  p.helo = "probe.example.net";
  p.sender = "backstop-audit@probe.example.net";
  p.domain = "example.test";
  p.random_local = "backstop-probe-0123456789abcdef";
  p.capture = capture;
  p.capture_sender = "audit@capture.example.net";
  p.message = "Subject: probe\r\n\r\n.hidden dot\r\nbody\r\n";
  return p;
}

// Runs the dialogue against `srv`; returns every command sent, in order.
std::vector<std::string> run(ProbeDialogue& d, const Server& srv) {
  std::vector<std::string> sent;
  std::string next = d.on_reply(reply(srv.greeting));
  bool null_sender = false;
  for (int guard = 0; guard < 50 && !next.empty(); ++guard) {
    sent.push_back(next);
    std::string r;
    if (next.starts_with("EHLO")) r = srv.ehlo;
    else if (next.starts_with("HELO")) r = srv.helo;
    else if (next.starts_with("MAIL FROM:<>")) { r = srv.mail_null; null_sender = true; }
    else if (next.starts_with("MAIL")) { r = srv.mail; null_sender = false; }
    else if (next.starts_with("RCPT TO:<postmaster")) r = srv.rcpt_postmaster;
    else if (next.starts_with("RCPT")) r = srv.rcpt_random;
    else if (next.starts_with("RSET")) r = "250 2.0.0 Ok";
    else if (next.starts_with("DATA")) r = srv.data;
    else if (next.starts_with("QUIT")) r = "221 2.0.0 Bye";
    else r = srv.end;  // the message
    (void)null_sender;
    // split multi-line scripted replies
    ReplyParser p;
    std::vector<Reply> out;
    EXPECT_TRUE(p.feed(r + "\r\n", &out));
    next.clear();
    for (const auto& rep : out) next = d.on_reply(rep);
  }
  return sent;
}

TEST(ProbeDialogue, GoodServerGetsTheThreeTestsAndQuitBeforeData) {
  ProbeDialogue d(plan());
  const auto sent = run(d, Server{});
  EXPECT_TRUE(d.done());
  const std::vector<std::string> want = {
      "EHLO probe.example.net\r\n",
      "MAIL FROM:<backstop-audit@probe.example.net>\r\n",
      "RCPT TO:<backstop-probe-0123456789abcdef@example.test>\r\n",
      "RCPT TO:<postmaster@example.test>\r\n",
      "RSET\r\n",
      "MAIL FROM:<>\r\n",
      "RCPT TO:<postmaster@example.test>\r\n",
      "RSET\r\n",
      "QUIT\r\n"};
  EXPECT_EQ(sent, want);
  EXPECT_LE(d.rcpts_sent(), kMaxProbeRcpts);
  auto s = judge_smtp("t", d.plan(), d.outcome(), nullptr);
  EXPECT_TRUE(s.findings.empty());
}

TEST(ProbeDialogue, AcceptAllServerIsAcceptThenBounce) {
  Server srv;
  srv.rcpt_random = "250 2.1.5 Ok";
  ProbeDialogue d(plan());
  const auto sent = run(d, srv);
  for (const auto& c : sent) EXPECT_FALSE(c.starts_with("DATA")) << "DATA without --capture";
  auto s = judge_smtp("t", d.plan(), d.outcome(), nullptr);
  ASSERT_EQ(s.findings.size(), 1u);
  EXPECT_EQ(s.findings[0].id, "smtp.accept-then-bounce");
  EXPECT_EQ(s.findings[0].severity, Severity::kHigh);
  EXPECT_NE(s.findings[0].title.find("250 2.1.5 Ok"), std::string::npos);
}

TEST(ProbeDialogue, TemporaryAnswerIsANoteNotAFinding) {
  Server srv;
  srv.rcpt_random = "450 4.2.0 Greylisted";
  ProbeDialogue d(plan());
  run(d, srv);
  auto s = judge_smtp("t", d.plan(), d.outcome(), nullptr);
  EXPECT_TRUE(s.findings.empty());
  ASSERT_FALSE(s.notes.empty());
  EXPECT_NE(s.notes[0].find("Greylisted"), std::string::npos);
}

TEST(ProbeDialogue, NullSenderAndPostmasterRefused) {
  Server srv;
  srv.mail_null = "553 5.7.1 Null sender not allowed";
  ProbeDialogue d(plan());
  const auto sent = run(d, srv);
  auto s = judge_smtp("t", d.plan(), d.outcome(), nullptr);
  ASSERT_EQ(s.findings.size(), 1u);
  EXPECT_EQ(s.findings[0].id, "smtp.null-sender-refused");
  EXPECT_EQ(std::count(sent.begin(), sent.end(), std::string("RCPT TO:<postmaster@example.test>\r\n")), 1);

  Server pm;
  pm.rcpt_postmaster = "550 5.1.1 User unknown";
  ProbeDialogue d2(plan());
  run(d2, pm);
  auto s2 = judge_smtp("t", d2.plan(), d2.outcome(), nullptr);
  ASSERT_EQ(s2.findings.size(), 1u);  // not also "null sender refused": postmaster is refused to all
  EXPECT_EQ(s2.findings[0].id, "smtp.postmaster-refused");
}

TEST(ProbeDialogue, EhloRefusedFallsBackToHelo) {
  Server srv;
  srv.ehlo = "502 5.5.2 Error: command not recognized";
  ProbeDialogue d(plan());
  const auto sent = run(d, srv);
  ASSERT_GE(sent.size(), 2u);
  EXPECT_EQ(sent[1], "HELO probe.example.net\r\n");
  EXPECT_TRUE(d.outcome().ehlo_refused);
  EXPECT_TRUE(d.outcome().rcpt_random.has_value());
}

TEST(ProbeDialogue, RefusedGreetingAnd421EndTheProbe) {
  Server srv;
  srv.greeting = "554 5.7.1 go away";
  ProbeDialogue d(plan());
  std::string next = d.on_reply(reply(srv.greeting));
  EXPECT_EQ(next, "QUIT\r\n");
  EXPECT_TRUE(d.done());
  EXPECT_NE(d.outcome().aborted.find("554"), std::string::npos);

  ProbeDialogue d2(plan());
  (void)d2.on_reply(reply("220 hi"));
  EXPECT_EQ(d2.on_reply(reply("421 4.3.2 shutting down")), "");
  EXPECT_TRUE(d2.done());
  EXPECT_FALSE(d2.outcome().aborted.empty());
  EXPECT_EQ(d2.on_reply(reply("250 late")), "");
}

TEST(ProbeDialogue, CaptureSendsOneStuffedMessage) {
  Server srv;
  srv.rcpt_random = "250 2.1.5 Ok";
  ProbeDialogue d(plan(true));
  const auto sent = run(d, srv);
  ASSERT_GE(sent.size(), 4u);
  EXPECT_EQ(sent[sent.size() - 5], "MAIL FROM:<audit@capture.example.net>\r\n");
  EXPECT_EQ(sent[sent.size() - 3], "DATA\r\n");
  EXPECT_EQ(sent[sent.size() - 2], "Subject: probe\r\n\r\n..hidden dot\r\nbody\r\n.\r\n");
  EXPECT_EQ(sent.back(), "QUIT\r\n");
  EXPECT_TRUE(d.message_sent());
  EXPECT_EQ(d.rcpts_sent(), kMaxProbeRcpts);
}

TEST(ProbeDialogue, CaptureSendsNoDataWhenTheRecipientIsRefused) {
  ProbeDialogue d(plan(true));
  const auto sent = run(d, Server{});
  for (const auto& c : sent) EXPECT_FALSE(c.starts_with("DATA"));
  EXPECT_FALSE(d.message_sent());
}

TEST(JudgeSmtp, CapturedBounceIsAFindingAndMissingOneANote) {
  Server srv;
  srv.rcpt_random = "250 2.1.5 Ok";
  ProbeDialogue d(plan(true));
  run(d, srv);
  CaptureResult c;
  c.message_sent = true;
  c.bounce_received = true;
  c.seconds = 1.25;
  c.kind = "bounce";
  c.confidence = 0.95;
  c.status = "5.1.1";
  auto s = judge_smtp("t", d.plan(), d.outcome(), &c);
  ASSERT_EQ(s.findings.size(), 2u);
  EXPECT_EQ(s.findings[1].id, "smtp.bounce-captured");
  EXPECT_NE(s.findings[1].title.find("1.2 s"), std::string::npos);
  EXPECT_NE(s.findings[1].title.find("bounce (confidence 0.95): 5.1.1"), std::string::npos);
  c.bounce_received = false;
  c.waited_seconds = 30;
  auto s2 = judge_smtp("t", d.plan(), d.outcome(), &c);
  EXPECT_EQ(s2.findings.size(), 1u);
  EXPECT_NE(s2.notes.back().find("no bounce within 30.0 s"), std::string::npos);
}

TEST(ReceiverSession, CapturesABounce) {
  ReceiverSession rs;
  EXPECT_TRUE(rs.greeting("cap.test").starts_with("220 cap.test"));
  std::string out = rs.feed("EHLO mx\r\nMAIL FROM:<> SIZE=100\r\nRCPT TO:<audit@capture.test>\r\nDATA\r\n");
  EXPECT_NE(out.find("354"), std::string::npos);
  out = rs.feed("Subject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n");
  EXPECT_NE(out.find("250 2.0.0 captured"), std::string::npos);
  EXPECT_TRUE(rs.closed());
  auto m = rs.take_messages();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].mail_from, "");
  EXPECT_EQ(m[0].rcpts, std::vector<std::string>{"audit@capture.test"});
  EXPECT_EQ(m[0].data, "Subject: x\r\n\r\n.dot\r\n");
}

TEST(ReceiverSession, HostileClientIsBounded) {
  ReceiverSession rs;
  EXPECT_NE(rs.feed("RCPT TO:<a@b>\r\n").find("503"), std::string::npos);
  EXPECT_NE(rs.feed("DATA\r\n").find("503"), std::string::npos);
  std::string out = rs.feed(std::string(kMaxCommandLineBytes + 10, 'A'));
  EXPECT_NE(out.find("500"), std::string::npos);
  EXPECT_TRUE(rs.closed());

  ReceiverSession big;
  big.feed("MAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\n");
  const std::string line(1000, 'x');
  for (std::size_t sent = 0; sent <= kMaxCapturedMessageBytes; sent += line.size() + 2) big.feed(line + "\r\n");
  out = big.feed(".\r\n");
  EXPECT_NE(out.find("552"), std::string::npos);
  EXPECT_TRUE(big.take_messages().empty());
}

}  // namespace
}  // namespace backstop::audit
