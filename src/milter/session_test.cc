#include "milter/session.h"

#include <gtest/gtest.h>

#include <deque>
#include <thread>

namespace backstop::milter {
namespace {

constexpr std::uint32_t kAllProto = 0x1fffff;

// A Filter whose decisions the test scripts; it records what it saw.
struct FakeFilter : Filter {
  Needs n;
  int opened = 0;
  int closed = 0;
  int aborts = 0;
  bool async_rcpt = false;
  Decide held;                 // a pending RCPT decision (async_rcpt)
  EomResult eom;               // what on_eom answers
  std::vector<std::string> seen_rcpts;
  std::vector<std::string> noreply_mails;  // senders told by on_mail_noreply
  std::string eom_sender, eom_body, eom_i, eom_auth;
  std::vector<std::string> eom_rcpts;
  std::size_t eom_headers = 0;
  std::uint64_t eom_body_size = 0;
  std::string eom_client;

  FakeFilter() {
    n.decide_rcpt = true;
    n.actions = act::kChgFrom | act::kAddHdrs;
    n.macros[static_cast<int>(MacroStage::kEnvFrom)] = "{auth_authen} {mail_addr}";
  }
  Needs needs() const override { return n; }

  struct H : Handler {
    FakeFilter& f;
    explicit H(FakeFilter& ff) : f(ff) {}
    void on_mail_noreply(const Context& c) override { f.noreply_mails.push_back(c.msg.sender); }
    void on_rcpt(const Context&, const Recipient& r, Decide done) override {
      f.seen_rcpts.push_back(r.address);
      if (f.async_rcpt) {
        f.held = std::move(done);
        return;
      }
      if (r.address.starts_with("<reject@"))
        return done(Action::reject(550, "5.7.1", "no backscatter here"));
      if (r.address.starts_with("<tempfail@")) return done(Action::tempfail(451, "4.3.0", "later"));
      if (r.address.starts_with("<badclass@")) return done(Action::reject(450, "4.7.1", "x"));
      if (r.address.starts_with("<hold@")) return done(Action::quarantine("held"));
      done(Action::cont());
    }
    void on_eom(const Context& c, DecideEom done) override {
      f.eom_sender = c.msg.sender;
      f.eom_body = c.msg.body;
      f.eom_body_size = c.msg.body_size;
      f.eom_headers = c.msg.headers.size();
      f.eom_rcpts.clear();
      for (const auto& r : c.msg.rcpts) f.eom_rcpts.push_back(r.address);
      f.eom_i = std::string(c.macros.get("i").value_or("-"));
      f.eom_auth = std::string(c.macros.get("{auth_authen}").value_or("-"));
      f.eom_client = c.conn.address;
      done(f.eom);
    }
    void on_abort(const Context&) override { ++f.aborts; }
    void on_close(const Context&) override { ++f.closed; }
  };
  std::unique_ptr<Handler> open() override {
    ++opened;
    return std::make_unique<H>(*this);
  }
};

struct Harness {
  FakeFilter f;
  std::deque<std::function<void()>> posted;
  std::shared_ptr<Session> s;
  explicit Harness(SessionConfig cfg = {}) { recreate(cfg); }
  // A new session (it reads Filter::needs() when created).
  void recreate(SessionConfig cfg = {}) {
    s = Session::create(f, cfg, [this](std::function<void()> fn) { posted.push_back(std::move(fn)); });
  }
  void send(const Command& c) {
    std::string w;
    ASSERT_TRUE(encode(c, w).has_value());
    s->feed(w);
  }
  std::vector<Response> replies() {
    ResponseDecoder d;
    d.feed(s->take_output());
    std::vector<Response> out;
    for (;;) {
      auto r = d.next();
      EXPECT_TRUE(r.has_value());
      if (!r || !r->has_value()) break;
      out.push_back(std::move(**r));
    }
    return out;
  }
  void run_posted() {
    while (!posted.empty()) {
      auto fn = std::move(posted.front());
      posted.pop_front();
      fn();
    }
  }
  OptNegReply negotiate(std::uint32_t actions = act::kAll, std::uint32_t proto = kAllProto) {
    send(OptNeg{6, actions, proto});
    auto r = replies();
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? OptNegReply{} : std::get<OptNegReply>(r[0]);
  }
};

Response simple(char c) { return Simple{c}; }

TEST(MilterSession, NegotiationAsksOnlyForWhatTheFilterNeeds) {
  Harness h;
  auto o = h.negotiate();
  EXPECT_EQ(o.version, 6u);
  EXPECT_EQ(o.actions, act::kChgFrom | act::kAddHdrs | act::kSetSymList);
  const std::uint32_t nr = proto::kNrConn | proto::kNrHelo | proto::kNrMail | proto::kNrHdr |
                           proto::kNrBody | proto::kNoEoh | proto::kNrEoh | proto::kNoUnknown |
                           proto::kNoData;
  EXPECT_EQ(o.protocol, nr);
  EXPECT_FALSE(o.protocol & proto::kNrRcpt);  // the filter decides at RCPT
  ASSERT_EQ(o.symlists.size(), 1u);
  EXPECT_EQ(o.symlists[0].stage, MacroStage::kEnvFrom);
  EXPECT_EQ(o.symlists[0].macros, "{auth_authen} {mail_addr}");
  EXPECT_EQ(h.f.opened, 1);
}

TEST(MilterSession, NoHeloAndNoReplyRcptWhenTheFilterNeedsNeither) {
  Harness h;
  h.f.n.want_helo = false;
  h.f.n.decide_rcpt = false;
  h.recreate();
  auto o = h.negotiate();
  EXPECT_TRUE(o.protocol & proto::kNoHelo);
  EXPECT_FALSE(o.protocol & proto::kNrHelo);  // nothing is sent, so nothing to not answer
  EXPECT_TRUE(o.protocol & proto::kNrRcpt);
  EXPECT_TRUE(o.protocol & proto::kNrMail);
  // A no-reply RCPT is stored without calling the handler and without a reply.
  h.send(Mail{{"<>"}});
  h.send(Rcpt{{"<a@example.org>"}});
  EXPECT_TRUE(h.replies().empty());
  EXPECT_TRUE(h.f.seen_rcpts.empty());
  // ...but a no-reply MAIL tells the handler that a transaction began
  ASSERT_EQ(h.f.noreply_mails.size(), 1u);
  EXPECT_EQ(h.f.noreply_mails[0], "<>");
}

TEST(MilterSession, NegotiationNeverExceedsTheOffer) {
  Harness h;
  h.send(OptNeg{4, act::kAddHdrs, proto::kNrHdr | proto::kNoEoh});
  auto r = h.replies();
  ASSERT_EQ(r.size(), 1u);
  auto o = std::get<OptNegReply>(r[0]);
  EXPECT_EQ(o.version, 4u);
  EXPECT_EQ(o.actions, act::kAddHdrs);  // no CHGFROM, no SETSYMLIST offered
  EXPECT_EQ(o.protocol, proto::kNrHdr | proto::kNoEoh);
  EXPECT_TRUE(o.symlists.empty());
}

TEST(MilterSession, OldVersionAndCommandsBeforeOptnegAreProtocolErrors) {
  Harness h;
  h.send(Helo{"x"});
  EXPECT_TRUE(h.s->closed());
  ASSERT_TRUE(h.s->error().has_value());
  EXPECT_EQ(h.s->error()->code(), Code::kProtocol);
  Harness h2;
  h2.send(OptNeg{1, 0, 0});
  EXPECT_TRUE(h2.s->closed());
}

TEST(MilterSession, WholeMessageWithReplies) {
  Harness h(SessionConfig{.max_body = 8});
  h.negotiate();
  h.send(MacroDef{'C', {{"j", "mx"}, {"_", "c [192.0.2.1]"}}});
  h.send(Connect{"c.example", '4', 4000, "192.0.2.1"});
  h.send(Helo{"c.example"});
  h.send(MacroDef{'M', {{"{auth_authen}", "alice"}}});
  h.send(Mail{{"<alice@example.org>", "SIZE=10"}});
  EXPECT_TRUE(h.replies().empty());  // NR_CONN, NR_HELO, NR_MAIL: nothing owed
  h.send(Rcpt{{"<reject@example.test>"}});
  auto r = h.replies();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], Response{ReplyCode{"550 5.7.1 no backscatter here"}});
  h.send(Rcpt{{"<tempfail@example.test>"}});
  EXPECT_EQ(h.replies(), std::vector<Response>{ReplyCode{"451 4.3.0 later"}});
  h.send(MacroDef{'R', {{"i", "ABC123"}}});
  h.send(Rcpt{{"<bob@example.test>"}});
  EXPECT_EQ(h.replies(), std::vector<Response>{simple(rsp::kContinue)});
  h.send(Header{"From", "alice@example.org"});
  h.send(Header{"Subject", "hi"});
  h.send(Body{"0123456789"});
  h.send(Body{"abc"});
  EXPECT_TRUE(h.replies().empty());  // NR_HDR, NR_BODY
  h.f.eom.mods = {Modification::change_from("prvs=1=alice@example.org"),
                  Modification::add_header("X-Backscatter", "kind=none")};
  h.send(Eob{});
  auto e = h.replies();
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0], (Response{ChgFrom{"<prvs=1=alice@example.org>", std::nullopt}}));
  EXPECT_EQ(e[1], (Response{AddHeader{"X-Backscatter", "kind=none"}}));
  EXPECT_EQ(e[2], simple(rsp::kContinue));
  EXPECT_EQ(h.f.eom_sender, "<alice@example.org>");
  EXPECT_EQ(h.f.eom_rcpts, std::vector<std::string>{"<bob@example.test>"});
  EXPECT_EQ(h.f.eom_headers, 2u);
  EXPECT_EQ(h.f.eom_body, "01234567");  // max_body = 8 kept
  EXPECT_EQ(h.f.eom_body_size, 13u);    // everything counted
  EXPECT_EQ(h.f.eom_i, "ABC123");
  EXPECT_EQ(h.f.eom_auth, "alice");
  EXPECT_EQ(h.f.eom_client, "192.0.2.1");
  EXPECT_FALSE(h.s->busy());
}

TEST(MilterSession, AsyncDecisionWaitsSendsProgressAndResumesFromAnotherThread) {
  Harness h(SessionConfig{.progress_before_eom = true});
  h.f.async_rcpt = true;
  h.negotiate();
  h.send(Mail{{"<>"}});
  // RCPT and the next RCPT arrive back to back: the second must wait.
  std::string w;
  ASSERT_TRUE(encode(Command{Rcpt{{"<a@example.test>"}}}, w));
  ASSERT_TRUE(encode(Command{Rcpt{{"<b@example.test>"}}}, w));
  h.s->feed(w);
  EXPECT_TRUE(h.s->waiting());
  EXPECT_TRUE(h.s->busy());
  EXPECT_EQ(h.f.seen_rcpts.size(), 1u);
  EXPECT_TRUE(h.replies().empty());
  h.s->send_progress();
  EXPECT_EQ(h.replies(), std::vector<Response>{simple(rsp::kProgress)});
  int woke = 0;
  h.s->set_wake([&] { ++woke; });
  Decide d = std::move(h.f.held);
  std::thread t([d] { d(Action::reject(550, "5.7.1", "async no")); });
  t.join();
  EXPECT_TRUE(h.s->waiting());  // nothing happens until the post runs on "our" thread
  h.f.async_rcpt = false;
  h.run_posted();
  EXPECT_EQ(woke, 1);
  EXPECT_FALSE(h.s->waiting());
  auto r = h.replies();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], Response{ReplyCode{"550 5.7.1 async no"}});
  EXPECT_EQ(r[1], simple(rsp::kContinue));  // the buffered second RCPT
  EXPECT_EQ(h.f.seen_rcpts.size(), 2u);
  d(Action::accept());  // a second call is ignored
  EXPECT_TRUE(h.posted.empty());
}

TEST(MilterSession, ProgressOnlyAtEomByDefault) {
  Harness h;
  h.f.async_rcpt = true;
  h.negotiate();
  h.send(Rcpt{{"<a@example.test>"}});
  ASSERT_TRUE(h.s->waiting());
  h.s->send_progress();
  EXPECT_TRUE(h.replies().empty());  // Sendmail would take 'p' as the RCPT reply
  h.f.held(Action::cont());
  h.run_posted();
  EXPECT_EQ(h.replies(), std::vector<Response>{simple(rsp::kContinue)});
}

TEST(MilterSession, CompletionAfterTheSessionIsGoneIsHarmless) {
  Harness h;
  h.f.async_rcpt = true;
  h.negotiate();
  h.send(Rcpt{{"<a@example.test>"}});
  Decide d = std::move(h.f.held);
  h.s->shutdown();
  h.s.reset();
  d(Action::cont());
  h.run_posted();  // weak pointer expired: nothing runs
  EXPECT_EQ(h.f.closed, 1);
}

TEST(MilterSession, AbortResetsTheMessageOnly) {
  Harness h;
  h.negotiate();
  h.send(Connect{"c", '4', 1, "192.0.2.9"});
  h.send(MacroDef{'M', {{"{auth_authen}", "alice"}}});
  h.send(Mail{{"<a@x>"}});
  h.send(Rcpt{{"<first@example.test>"}});
  h.send(Header{"Subject", "one"});
  h.send(Abort{});
  EXPECT_EQ(h.f.aborts, 1);
  EXPECT_FALSE(h.s->busy());
  h.send(Mail{{"<b@x>"}});
  h.send(Rcpt{{"<second@example.test>"}});
  h.send(Eob{});
  EXPECT_EQ(h.f.eom_sender, "<b@x>");
  EXPECT_EQ(h.f.eom_rcpts, std::vector<std::string>{"<second@example.test>"});
  EXPECT_EQ(h.f.eom_headers, 0u);
  EXPECT_EQ(h.f.eom_auth, "-");  // message macros went with the aborted message
  EXPECT_EQ(h.f.eom_client, "192.0.2.9");  // connection state survives
  // ABORT with no message open is fine too.
  h.send(Abort{});
  EXPECT_FALSE(h.s->closed());
}

TEST(MilterSession, QuitNcStartsAFreshConnectionContext) {
  Harness h;
  h.negotiate();
  h.send(Connect{"c", '4', 1, "192.0.2.9"});
  h.send(QuitNc{});
  EXPECT_EQ(h.f.closed, 1);
  EXPECT_EQ(h.f.opened, 2);
  EXPECT_FALSE(h.s->closed());
  h.send(Mail{{"<a@x>"}});
  h.send(Rcpt{{"<r@example.test>"}});
  EXPECT_EQ(h.replies(), std::vector<Response>{simple(rsp::kContinue)});
  h.send(Eob{});
  EXPECT_EQ(h.f.eom_client, "");  // no CONNECT on the new context yet
  h.send(Quit{});
  EXPECT_TRUE(h.s->closed());
  EXPECT_FALSE(h.s->error().has_value());
  EXPECT_EQ(h.f.closed, 2);
}

TEST(MilterSession, ImpossibleAnswersBecomeTempfailNever5xx) {
  Harness h;
  h.negotiate(act::kAddHdrs, kAllProto);  // the MTA does not offer CHGFROM
  h.send(Rcpt{{"<badclass@example.test>"}});
  EXPECT_EQ(h.replies(), std::vector<Response>{simple(rsp::kTempfail)});
  h.f.eom.mods = {Modification::add_header("X-A", "1"), Modification::change_from("<x@y>")};
  h.send(Eob{});
  EXPECT_EQ(h.replies(), std::vector<Response>{simple(rsp::kTempfail)});
  h.f.eom.mods = {Modification::add_header("X-A", std::string("a\0b", 3))};
  h.send(Eob{});
  EXPECT_EQ(h.replies(), std::vector<Response>{simple(rsp::kTempfail)});
  h.f.eom.mods = {Modification::add_header("X-A", "ok")};
  h.send(Eob{});
  EXPECT_EQ(h.replies(), (std::vector<Response>{AddHeader{"X-A", "ok"}, simple(rsp::kContinue)}));
}

TEST(MilterSession, QuarantineAtRcptIsSentAtEom) {
  Harness h;
  h.f.n.actions |= act::kQuarantine;
  h.recreate();
  h.negotiate();
  h.send(Rcpt{{"<hold@example.test>"}});
  EXPECT_EQ(h.replies(), std::vector<Response>{simple(rsp::kContinue)});
  h.send(Eob{});
  EXPECT_EQ(h.replies(), (std::vector<Response>{Quarantine{"held"}, simple(rsp::kContinue)}));
  h.send(Eob{});  // the next message is not held
  EXPECT_EQ(h.replies(), std::vector<Response>{simple(rsp::kContinue)});
}

TEST(MilterSession, EomRejectSendsNoModifications) {
  Harness h;
  h.negotiate();
  h.f.eom = EomResult{Action::reject(550, "5.7.1", "Backscatter rejected"),
                      {Modification::add_header("X-A", "1")}};
  h.send(Eob{});
  EXPECT_EQ(h.replies(), std::vector<Response>{ReplyCode{"550 5.7.1 Backscatter rejected"}});
}

TEST(MilterSession, BodyDecisionsSkipOnceMaxBodyIsStored) {
  struct BodyFilter : FakeFilter {
    BodyFilter() { n.decide_body = true; }
  };
  BodyFilter f;
  std::vector<std::function<void()>> posted;
  auto s = Session::create(f, SessionConfig{.max_body = 4},
                           [&](std::function<void()> fn) { posted.push_back(std::move(fn)); });
  std::string w;
  ASSERT_TRUE(encode(Command{OptNeg{6, act::kAll, kAllProto}}, w));
  ASSERT_TRUE(encode(Command{Body{"ab"}}, w));
  ASSERT_TRUE(encode(Command{Body{"cdef"}}, w));
  s->feed(w);
  ResponseDecoder d;
  d.feed(s->take_output());
  auto o = d.next();
  ASSERT_TRUE(o && o->has_value());
  EXPECT_TRUE(std::get<OptNegReply>(**o).protocol & proto::kSkip);
  auto c1 = d.next();
  ASSERT_TRUE(c1 && c1->has_value());
  EXPECT_EQ(**c1, simple(rsp::kContinue));
  auto c2 = d.next();
  ASSERT_TRUE(c2 && c2->has_value());
  EXPECT_EQ(**c2, simple(rsp::kSkip));
}

TEST(MilterSession, GarbageClosesWithAnError) {
  Harness h;
  h.negotiate();
  h.s->feed(std::string("\0\0\0\2Zx", 6));
  EXPECT_TRUE(h.s->closed());
  ASSERT_TRUE(h.s->error().has_value());
  EXPECT_EQ(h.f.closed, 1);
  h.s->feed(std::string("\0\0\0\1Q", 5));  // ignored after close
  EXPECT_TRUE(h.replies().empty());
}

TEST(MilterSession, HeaderAndRecipientLimitsBoundMemory) {
  Harness h(SessionConfig{.max_headers = 2, .max_rcpts = 1});
  h.f.n.decide_rcpt = false;
  h.recreate(SessionConfig{.max_headers = 2, .max_rcpts = 1});
  h.negotiate();
  for (int i = 0; i < 3; ++i) h.send(Rcpt{{"<r" + std::to_string(i) + "@x>"}});
  for (int i = 0; i < 5; ++i) h.send(Header{"X", "v"});
  h.send(Eob{});
  EXPECT_EQ(h.f.eom_rcpts.size(), 1u);
  EXPECT_EQ(h.f.eom_headers, 2u);
}

TEST(MilterMacros, LookupWithAndWithoutBracesAndStageReset) {
  Macros m;
  m.set_stage('C', {{"j", "mx"}, {"{daemon_name}", "ORIGINATING"}});
  m.set_stage('M', {{"{auth_authen}", "bob"}});
  EXPECT_EQ(m.get("daemon_name").value_or(""), "ORIGINATING");
  EXPECT_EQ(m.get("{daemon_name}").value_or(""), "ORIGINATING");
  EXPECT_EQ(m.get("j").value_or(""), "mx");
  EXPECT_EQ(m.get("auth_authen").value_or(""), "bob");
  m.clear_message_stages();
  EXPECT_FALSE(m.get("auth_authen").has_value());
  EXPECT_TRUE(m.get("j").has_value());
  m.set_stage('C', {{"j", std::string(kMaxMacroBytesPerStage + 1, 'x')}});
  EXPECT_FALSE(m.get("j").has_value());  // over the per-stage cap: dropped
}

}  // namespace
}  // namespace backstop::milter
