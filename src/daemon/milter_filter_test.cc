#include "daemon/milter_filter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <future>
#include <mutex>
#include <thread>
#include <optional>
#include <unistd.h>

#include "batv/batv.h"
#include "daemon/test_messages.h"
#include "dnsbl/evidence.h"
#include "store/fault_store.h"
#include "store/test_util.h"

namespace backstop::daemon {
namespace {

constexpr std::int64_t kT0 = 1'795'000'000;  // 2026-11-18
constexpr std::int64_t kDay = 86400;

// Splits a raw message into the header list and body a milter would receive.
void load(milter::MessageInfo* msg, const std::string& raw) {
  auto end = raw.find("\r\n\r\n");
  std::string head = raw.substr(0, end);
  msg->body = raw.substr(end + 4);
  msg->body_size = msg->body.size();
  std::size_t pos = 0;
  while (pos < head.size()) {
    auto nl = head.find("\r\n", pos);
    if (nl == std::string::npos) nl = head.size();
    std::string line = head.substr(pos, nl - pos);
    pos = nl + 2;
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      msg->headers.back().value += "\r\n" + line;
      continue;
    }
    auto colon = line.find(':');
    msg->headers.push_back({line.substr(0, colon), line.substr(colon + 2)});
  }
}

class FilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("backstop-filter-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    clock_.set(kT0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The test's configuration: its state directory, example.org, and `extra`.
  std::string config_text(const std::string& extra) const {
    return "state.dir = \"" + dir_.string() + "\"\n" + "domains.local = [\"example.org\"]\n" + extra;
  }

  void start(const std::string& extra, std::unique_ptr<store::Store> store = nullptr) {
    auto cfg = config::Config::parse(config_text(extra));
    ASSERT_TRUE(cfg) << cfg.error().to_string();
    EngineOptions o;
    o.clock = &clock_;
    o.memory_store = true;
    o.store = std::move(store);
    o.judge_threads = judge_threads_;
    o.classify_hook = hook_;
    auto e = Engine::create(*cfg, std::move(o));
    ASSERT_TRUE(e) << e.error().to_string();
    engine_ = std::move(*e);
    filter_ = std::make_unique<BackstopFilter>(engine_.get(),
                                               [this](std::string_view l) { logs_.emplace_back(l); });
  }

  // A SIGHUP: the same base configuration with `extra`.
  void reload(const std::string& extra) {
    auto cfg = config::Config::parse(config_text(extra));
    ASSERT_TRUE(cfg) << cfg.error().to_string();
    auto st = engine_->reload(*cfg);
    ASSERT_TRUE(st) << st.error().to_string();
  }

  struct Conversation {
    milter::ConnectionInfo conn{"[203.0.113.7]", '4', 25000, "203.0.113.7", "mx.remote.example"};
    milter::MessageInfo msg;
    milter::Macros macros;
    std::unique_ptr<milter::Handler> h;
    milter::Context ctx() { return {conn, msg, macros}; }
  };

  std::unique_ptr<Conversation> open(const std::string& sender) {
    auto c = std::make_unique<Conversation>();
    c->h = filter_->open();
    c->msg.sender = "<" + sender + ">";
    return c;
  }

  // An answer that may come later from another thread (the outbound limits
  // run on the engine's worker).
  static milter::Action wait_for(const std::function<void(milter::Decide)>& call) {
    auto p = std::make_shared<std::promise<milter::Action>>();
    call([p](milter::Action x) { p->set_value(std::move(x)); });
    auto f = p->get_future();
    EXPECT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "no answer";
    return f.valid() && f.wait_for(std::chrono::seconds(0)) == std::future_status::ready ? f.get() : milter::Action{};
  }
  static milter::Action decide_mail(Conversation& c) {
    return wait_for([&](milter::Decide d) { c.h->on_mail(c.ctx(), std::move(d)); });
  }
  static milter::Action decide_rcpt(Conversation& c, const std::string& rcpt) {
    milter::Recipient r{"<" + rcpt + ">", {}};
    auto a = wait_for([&](milter::Decide d) { c.h->on_rcpt(c.ctx(), r, std::move(d)); });
    if (a.kind == milter::Action::Kind::kContinue) c.msg.rcpts.push_back(r);
    return a;
  }
  // The end-of-message answer, which may come later from another thread
  // (outbound mail is answered once its ledger record is committed).
  static milter::EomResult decide_eom(Conversation& c, const std::string& raw) {
    load(&c.msg, raw);
    auto p = std::make_shared<std::promise<milter::EomResult>>();
    c.h->on_eom(c.ctx(), [p](milter::EomResult x) { p->set_value(std::move(x)); });
    auto f = p->get_future();
    EXPECT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "no answer at end of message";
    return f.valid() && f.wait_for(std::chrono::seconds(0)) == std::future_status::ready ? f.get() : milter::EomResult{};
  }

  // True when the end-of-message result replaces recipient `from` by `to`
  // (DELRCPT + ADDRCPT): a valid BATV tag stripped.
  static bool swaps_rcpt(const milter::EomResult& r, const std::string& from, const std::string& to) {
    bool del = false, add = false;
    for (const auto& m : r.mods) {
      del |= m.kind == milter::Modification::Kind::kDeleteRcpt && m.value == from;
      add |= m.kind == milter::Modification::Kind::kAddRcpt && m.value == to;
    }
    return del && add;
  }

  // The DNSBL listing of `ip` once queued store writes are committed, if any.
  std::optional<store::Listing> listing(const std::string& ip) {
    EXPECT_TRUE(engine_->writer().flush());
    auto l = engine_->store().listing_get(ip);
    EXPECT_TRUE(l.has_value());
    return l ? *l : std::nullopt;
  }

  std::string sign(const std::string& addr) {
    auto s = engine_->snapshot();
    auto r = batv::sign(s->keys, s->signer, addr, clock_.unix_day());
    EXPECT_EQ(r.status, batv::SignStatus::kSigned);
    return r.address;
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<BackstopFilter> filter_;
  std::vector<std::string> logs_;
  std::optional<std::size_t> judge_threads_;  // set before start(): EngineOptions::judge_threads
  ClassifyHook hook_;                         // set before start(): EngineOptions::classify_hook
};

TEST_F(FilterTest, EnforceRejectsUntaggedBounceAtRcpt) {
  start("batv.mode = \"enforce\"\nbatv.grace_days = 0\n");
  auto c = open("");
  EXPECT_EQ(decide_mail(*c).kind, milter::Action::Kind::kContinue);
  auto a = decide_rcpt(*c, "alice@example.org");
  EXPECT_EQ(a.kind, milter::Action::Kind::kReject);
  EXPECT_EQ(a.code, 550);
  EXPECT_EQ(a.xcode, "5.7.1");
  EXPECT_NE(a.text.find("invalid or missing BATV tag"), std::string::npos);
  // a foreign recipient and a non-bounce sender are not checked
  EXPECT_EQ(decide_rcpt(*c, "bob@elsewhere.example").kind, milter::Action::Kind::kContinue);
  auto d = open("someone@remote.example");
  decide_mail(*d);
  EXPECT_EQ(decide_rcpt(*d, "alice@example.org").kind, milter::Action::Kind::kContinue);
}

TEST_F(FilterTest, GracePeriodOnlyRecords) {
  start("batv.mode = \"enforce\"\nbatv.grace_days = 7\n");
  auto c = open("");
  decide_mail(*c);
  EXPECT_EQ(decide_rcpt(*c, "alice@example.org").kind, milter::Action::Kind::kContinue);
  clock_.advance(8 * kDay);
  auto d = open("");
  decide_mail(*d);
  EXPECT_EQ(decide_rcpt(*d, "alice@example.org").kind, milter::Action::Kind::kReject);
}

TEST_F(FilterTest, ValidTagIsAcceptedAndStripped) {
  start("batv.mode = \"enforce\"\nbatv.grace_days = 0\n");
  std::string tagged = sign("alice@example.org");
  ASSERT_EQ(tagged.rfind("prvs=", 0), 0u);
  auto c = open("");
  decide_mail(*c);
  EXPECT_EQ(decide_rcpt(*c, tagged).kind, milter::Action::Kind::kContinue);
  auto r = decide_eom(*c, testing::dsn("unknown@example.org", "alice@example.org", "bob@remote.example"));
  EXPECT_NE(r.action.kind, milter::Action::Kind::kReject);
  ASSERT_GE(r.mods.size(), 2u);
  EXPECT_TRUE(swaps_rcpt(r, "<" + tagged + ">", "<alice@example.org>"));
}

// The durable ledger: outbound mail is acknowledged only once its record is
// committed. While commits fail, it is deferred (never acknowledged without a
// record), /healthz is unhealthy, and both recover once the store does.
TEST_F(FilterTest, OutboundIsDeferredWhileItsLedgerRecordCannotBeCommitted) {
  auto fault = std::make_unique<store::FaultStore>(store::make_memory_store());
  store::FaultStore* fs = fault.get();
  start("batv.mode = \"tag\"\n", std::move(fault));
  fs->fail_writes(-1, Code::kEnvironment);  // e.g. the disk is full
  auto send = [&](const std::string& id) {
    auto c = open("alice@example.org");
    c->macros.set_stage('M', {{"{auth_authen}", "alice"}});
    decide_mail(*c);
    decide_rcpt(*c, "bob@remote.example");
    return decide_eom(*c, testing::plain("alice@example.org", "bob@remote.example", id));
  };
  auto r = send("m1@example.org");
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kTempfail);
  EXPECT_EQ(r.action.code, 451);
  EXPECT_EQ(r.action.xcode, "4.3.0");
  EXPECT_FALSE(engine_->healthy());
  EXPECT_FALSE(fs->inner().ledger_get("m1@example.org")->has_value());
  EXPECT_NE(engine_->metrics().render().find("backstop_ledger_failed_total 1"), std::string::npos);
  EXPECT_NE(engine_->metrics().render().find("backstop_store_write_failures_total{store=\"state\"}"),
            std::string::npos);

  fs->disarm();  // space is back: the client's retry goes through
  auto again = send("m1@example.org");
  EXPECT_EQ(again.action.kind, milter::Action::Kind::kContinue);
  EXPECT_TRUE(fs->inner().ledger_get("m1@example.org")->has_value());
  EXPECT_TRUE(engine_->healthy());
  EXPECT_NE(engine_->metrics().render().find("backstop_ledger_recorded_total 1"), std::string::npos);
}

TEST_F(FilterTest, OutboundLedgerFailureFailsOpenWhenConfigured) {
  auto fault = std::make_unique<store::FaultStore>(store::make_memory_store());
  store::FaultStore* fs = fault.get();
  start("milter.on_error = \"accept\"\n", std::move(fault));
  fs->fail_writes(-1);
  auto c = open("alice@example.org");
  c->macros.set_stage('M', {{"{auth_authen}", "alice"}});
  decide_mail(*c);
  decide_rcpt(*c, "bob@remote.example");
  auto r = decide_eom(*c, testing::plain("alice@example.org", "bob@remote.example", "m2@example.org"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kContinue);
}

TEST_F(FilterTest, OutboundIsSignedAndRecordedThenItsBounceAccepted) {
  start("batv.mode = \"tag\"\nledger.warmup_days = 0\n");
  auto c = open("alice@example.org");
  c->macros.set_stage('M', {{"{auth_authen}", "alice"}});
  decide_mail(*c);
  decide_rcpt(*c, "bob@remote.example");
  auto r = decide_eom(*c, testing::plain("alice@example.org", "bob@remote.example", "m1@example.org"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kContinue);
  std::string from;
  for (const auto& m : r.mods) {
    if (m.kind == milter::Modification::Kind::kChangeFrom) from = m.value;
  }
  ASSERT_EQ(from.rfind("<prvs=", 0), 0u) << from;
  ASSERT_TRUE(engine_->writer().flush());
  auto entry = engine_->store().ledger_get("m1@example.org");
  ASSERT_TRUE(entry && *entry);
  EXPECT_EQ((*entry)->sender, "alice@example.org");
  auto seen = engine_->store().correspondent_last_seen("alice@example.org", "bob@remote.example");
  ASSERT_TRUE(seen && *seen);

  // its real bounce (to the tagged address) is ours: accepted, no tag header
  clock_.advance(kDay);
  auto b = open("");
  decide_mail(*b);
  EXPECT_EQ(decide_rcpt(*b, from.substr(1, from.size() - 2)).kind, milter::Action::Kind::kContinue);
  auto br = decide_eom(*b, testing::dsn("m1@example.org", "alice@example.org", "bob@remote.example"));
  EXPECT_EQ(br.action.kind, milter::Action::Kind::kContinue);
  for (const auto& m : br.mods) EXPECT_NE(m.name, "X-Backscatter");
}

// RFC 3461: the MAIL command's ENVID is recorded decoded, and a DSN that
// names it and nothing else is ours.
TEST_F(FilterTest, OutboundEnvidIsRecordedAndItsDsnIsOurs) {
  start("ledger.warmup_days = 0\n");
  auto c = open("alice@example.org");
  c->macros.set_stage('M', {{"{auth_authen}", "alice"}});
  c->msg.mail_args = {"RET=HDRS", "ENVID=QQ+2B314159"};
  decide_mail(*c);
  decide_rcpt(*c, "bob@remote.example");
  decide_eom(*c, testing::plain("alice@example.org", "bob@remote.example", "env1@example.org"));
  ASSERT_TRUE(engine_->writer().flush());
  auto entry = engine_->store().ledger_get("env1@example.org");
  ASSERT_TRUE(entry && *entry);
  EXPECT_EQ((*entry)->envid, "QQ+314159");
  // Not xtext: not recorded.
  auto bad = open("alice@example.org");
  bad->macros.set_stage('M', {{"{auth_authen}", "alice"}});
  bad->msg.mail_args = {"ENVID=a=b"};
  decide_mail(*bad);
  decide_rcpt(*bad, "bob@remote.example");
  decide_eom(*bad, testing::plain("alice@example.org", "bob@remote.example", "env2@example.org"));
  ASSERT_TRUE(engine_->writer().flush());
  EXPECT_EQ((*engine_->store().ledger_get("env2@example.org"))->envid, "");
  // A DSN whose quoted Message-ID and recipient are not ours, but whose ENVID is.
  clock_.advance(3600);
  std::string dsn = testing::dsn("nothing@remote.example", "alice@example.org", "carol@elsewhere.example");
  auto at = dsn.find("Reporting-MTA:");
  ASSERT_NE(at, std::string::npos);
  dsn.insert(at, "Original-Envelope-Id: QQ+2B314159\r\n");
  auto b = open("");
  decide_mail(*b);
  decide_rcpt(*b, "alice@example.org");
  auto br = decide_eom(*b, dsn);
  EXPECT_EQ(br.action.kind, milter::Action::Kind::kContinue);
  for (const auto& m : br.mods) EXPECT_NE(m.name, "X-Backscatter");
}

TEST_F(FilterTest, OutboundWithoutMessageIdGetsOne) {
  start("outbound.networks = [\"203.0.113.0/24\"]\n");
  auto c = open("alice@example.org");
  decide_mail(*c);
  decide_rcpt(*c, "bob@remote.example");
  auto r = decide_eom(*c, testing::plain("alice@example.org", "bob@remote.example", ""));
  std::string id;
  for (const auto& m : r.mods) {
    if (m.kind == milter::Modification::Kind::kAddHeader && m.name == "Message-ID") id = m.value;
  }
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(engine_->writer().flush());
  auto entry = engine_->store().ledger_get(id.substr(1, id.size() - 2));
  ASSERT_TRUE(entry && *entry) << id;
}

TEST_F(FilterTest, ForgedBounceRejectedAtEndOfData) {
  start("batv.mode = \"tag\"\nledger.warmup_days = 0\n");
  ASSERT_TRUE(engine_->store().ledger_put("real@example.org", {kT0 - kDay, "alice@example.org", {"x@y.example"}}));
  auto c = open("");
  decide_mail(*c);
  EXPECT_EQ(decide_rcpt(*c, "alice@example.org").kind, milter::Action::Kind::kContinue);
  auto r = decide_eom(*c, testing::dsn("forged@example.org", "alice@example.org", "victim@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kReject);
  EXPECT_EQ(r.action.code, 550);
  EXPECT_EQ(r.action.xcode, "5.7.1");
  EXPECT_NE(r.action.text.find("Backscatter rejected: bounce"), std::string::npos);
  ASSERT_FALSE(logs_.empty());
  EXPECT_NE(logs_.back().find("kind=bounce verdict=not_ours action=reject"), std::string::npos) << logs_.back();
}

// With a remote store, inbound mail is judged on the judge worker (no event
// loop waits on a round trip), with the same answers as on the loop.
TEST_F(FilterTest, WithJudgeThreadsInboundIsJudgedOffTheEventLoop) {
  judge_threads_ = 2;
  auto reads = std::make_shared<std::vector<std::thread::id>>();
  auto classified = std::make_shared<std::vector<std::thread::id>>();
  auto mu = std::make_shared<std::mutex>();
  hook_ = [classified, mu](const mail::Message&, classify::Verdict&) {
    std::lock_guard lock(*mu);
    classified->push_back(std::this_thread::get_id());
  };
  auto store = std::make_unique<store::FaultStore>(store::make_memory_store());
  auto* fault = store.get();
  start("batv.mode = \"tag\"\nledger.warmup_days = 0\n", std::move(store));
  ASSERT_NE(engine_->judge_worker(), nullptr);
  ASSERT_TRUE(engine_->store().ledger_put("real@example.org", {kT0 - kDay, "alice@example.org", {"x@y.example"}}));
  fault->on_read([reads, mu] {
    std::lock_guard lock(*mu);
    reads->push_back(std::this_thread::get_id());
  });
  auto forged = open("");
  decide_mail(*forged);
  decide_rcpt(*forged, "alice@example.org");
  auto r = decide_eom(*forged, testing::dsn("forged@example.org", "alice@example.org", "victim@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kReject);
  EXPECT_EQ(r.action.code, 550);
  auto ours = open("");
  decide_mail(*ours);
  decide_rcpt(*ours, "alice@example.org");
  auto a = decide_eom(*ours, testing::dsn("real@example.org", "alice@example.org", "x@y.example"));
  EXPECT_EQ(a.action.kind, milter::Action::Kind::kContinue);
  // Plain mail reads no store: judged where it arrived, without a hop.
  auto plain = open("carol@remote.example");
  decide_mail(*plain);
  decide_rcpt(*plain, "alice@example.org");
  std::size_t reads_before = 0;
  {
    std::lock_guard lock(*mu);
    reads_before = reads->size();
  }
  auto p = decide_eom(*plain, "From: carol@remote.example\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\nhello\r\n");
  EXPECT_EQ(p.action.kind, milter::Action::Kind::kContinue);
  std::lock_guard lock(*mu);
  EXPECT_EQ(reads->size(), reads_before);
  EXPECT_EQ(classified->size(), 3u);
  for (auto id : *classified) EXPECT_EQ(id, std::this_thread::get_id()) << "classified where it arrived";
  EXPECT_FALSE(reads->empty());
  for (auto id : *reads) EXPECT_NE(id, std::this_thread::get_id()) << "the store is read on the judge worker";
}

// The judge worker owns what it judges: the connection may close (and the
// milter context go) before the answer; the answer then goes nowhere, safely.
TEST_F(FilterTest, JudgedOffTheLoopAfterTheConnectionWentAway) {
  judge_threads_ = 1;
  auto release = std::make_shared<std::promise<void>>();
  auto gate = release->get_future().share();
  auto store = std::make_unique<store::FaultStore>(store::make_memory_store());
  auto* fault = store.get();
  start("batv.mode = \"tag\"\nledger.warmup_days = 0\n", std::move(store));
  ASSERT_TRUE(engine_->store().ledger_put("real@example.org", {kT0 - kDay, "alice@example.org", {"x@y.example"}}));
  auto answered = std::make_shared<std::promise<milter::EomResult>>();
  {
    auto c = open("");
    decide_mail(*c);
    decide_rcpt(*c, "alice@example.org");
    // The judge worker's store reads wait until the connection is gone.
    fault->on_read([gate] { gate.wait(); });
    load(&c->msg, testing::dsn("forged@example.org", "alice@example.org", "victim@remote.example"));
    c->h->on_eom(c->ctx(), [answered](milter::EomResult x) { answered->set_value(std::move(x)); });
  }  // the conversation, its handler and its message are destroyed here
  release->set_value();
  auto f = answered->get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(f.get().action.kind, milter::Action::Kind::kReject);
}

// A loop's own store reads (serve gives each milter thread its Redis
// connection): a bounce's reads go there, not to the judge worker, and the
// message is judged with what they found when they answer; a failed read is
// 451, never 5xx.
class HeldReads final : public store::AsyncReads {
 public:
  void start(store::ReadBatch batch, Done done) override {
    held.emplace_back(std::move(batch), std::move(done));
  }
  std::vector<std::pair<store::ReadBatch, Done>> held;
};

TEST_F(FilterTest, WithLoopReadsTheBounceIsJudgedWhenTheyAnswer) {
  judge_threads_ = 1;
  auto store = std::make_unique<store::FaultStore>(store::make_memory_store());
  auto* fault = store.get();
  start("batv.mode = \"tag\"\nledger.warmup_days = 0\n", std::move(store));
  ASSERT_TRUE(engine_->store().ledger_put("real@example.org", {kT0 - kDay, "alice@example.org", {"x@y.example"}}));
  std::atomic<int> worker_reads{0};
  fault->on_read([&worker_reads] { worker_reads.fetch_add(1); });
  HeldReads loop;
  set_thread_loop_reads(&loop);
  struct Reset {
    ~Reset() { set_thread_loop_reads(nullptr); }
  } reset;
  auto eom = [&](const std::string& id) {
    auto c = open("");
    decide_mail(*c);
    decide_rcpt(*c, "alice@example.org");
    load(&c->msg, testing::dsn(id, "alice@example.org", "victim@remote.example"));
    auto answered = std::make_shared<std::promise<milter::EomResult>>();
    c->h->on_eom(c->ctx(), [answered](milter::EomResult x) { answered->set_value(std::move(x)); });
    return answered->get_future();
  };
  auto forged = eom("forged@example.org");
  auto ours = eom("real@example.org");
  auto failed = eom("real@example.org");
  ASSERT_EQ(loop.held.size(), 3u);
  EXPECT_EQ(worker_reads.load(), 0) << "the judge worker read nothing";
  EXPECT_EQ(forged.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout) << "answered before its reads";
  for (auto& [batch, done] : loop.held) {
    EXPECT_FALSE(batch.ledger_ids.empty());
    EXPECT_TRUE(batch.ledger_first_time);
  }
  loop.held[0].second(engine_->store().read_batch(loop.held[0].first));
  loop.held[1].second(engine_->store().read_batch(loop.held[1].first));
  loop.held[2].second(fail(Code::kUnavailable, "redis: timed out"));
  ASSERT_EQ(forged.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_EQ(ours.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_EQ(failed.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto f = forged.get();
  EXPECT_EQ(f.action.kind, milter::Action::Kind::kReject);
  EXPECT_EQ(f.action.code, 550);
  EXPECT_EQ(ours.get().action.kind, milter::Action::Kind::kContinue);
  auto t = failed.get();
  EXPECT_EQ(t.action.kind, milter::Action::Kind::kTempfail);
  EXPECT_EQ(t.action.code, 451);
}

// MAIL is answered only when DNSBL zones or limits can refuse there; RCPT always.
TEST_F(FilterTest, NeedsAnswerNeitherMailNorRcptWhenNothingRefusesThere) {
  start("batv.mode = \"tag\"\n");
  auto n = filter_->needs();
  EXPECT_FALSE(n.decide_mail);
  EXPECT_FALSE(n.decide_rcpt);
  EXPECT_FALSE(n.want_helo);
  EXPECT_TRUE(n.want_headers);
  EXPECT_TRUE(n.want_body);
}

TEST_F(FilterTest, BatvEnforcementPastItsGraceAnswersRcpt) {
  start("batv.mode = \"enforce\"\nbatv.grace_days = 2\n");
  EXPECT_FALSE(filter_->needs().decide_rcpt);  // in the grace period RCPT only records
  clock_.set(kT0 + 2 * kDay);
  EXPECT_TRUE(filter_->needs().decide_rcpt);
  EXPECT_FALSE(filter_->needs().decide_mail);
}

TEST_F(FilterTest, OutboundLimitsAnswerRcpt) {
  start("[[limits.rule]]\nscope = \"sasl_user\"\nrecipients = \"5/1h\"\n");
  EXPECT_TRUE(filter_->needs().decide_rcpt);
}

// RCPT negotiated no-reply (tag mode when the session began), then a reload
// to enforce: the untagged bounce is refused at end of message instead.
TEST_F(FilterTest, EnforcementTurnedOnMidSessionRefusesAtEndOfMessage) {
  start("batv.mode = \"tag\"\nbatv.grace_days = 0\n");
  ASSERT_FALSE(filter_->needs().decide_rcpt);
  auto c = open("");  // a session open before the reload
  // a message whose MAIL FROM came before the reload is judged as it began
  c->h->on_mail_noreply(c->ctx());
  reload("batv.mode = \"enforce\"\nbatv.grace_days = 0\n");
  c->msg.rcpts.push_back({"<alice@example.org>", {}});
  auto r = decide_eom(*c, testing::plain("someone@remote.example", "alice@example.org", "held0@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kContinue);
  // the session's next message began after it: refused at end of message
  c->msg = {};
  c->msg.sender = "<>";
  c->h->on_mail_noreply(c->ctx());
  c->msg.rcpts.push_back({"<alice@example.org>", {}});
  r = decide_eom(*c, testing::plain("someone@remote.example", "alice@example.org", "held@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kReject);
  EXPECT_EQ(r.action.code, 550);
  EXPECT_EQ(r.action.xcode, "5.7.1");
  ASSERT_FALSE(logs_.empty());
  EXPECT_NE(logs_.back().find("late_rcpt_refusal=1/1 action=reject"), std::string::npos) << logs_.back();
  // one good and one bad recipient: the message cannot be split here, so
  // the client is told to retry (the next session answers RCPT)
  std::string tagged = sign("alice@example.org");
  c->msg = {};
  c->msg.sender = "<>";
  c->msg.rcpts.push_back({"<" + tagged + ">", {}});
  c->msg.rcpts.push_back({"<bob@example.org>", {}});
  r = decide_eom(*c, testing::plain("someone@remote.example", "alice@example.org", "held2@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kTempfail);
  EXPECT_EQ(r.action.code, 451);
  EXPECT_EQ(r.action.xcode, "4.7.1");
  // and a new session answers RCPT
  EXPECT_TRUE(filter_->needs().decide_rcpt);
}

TEST_F(FilterTest, OutboundLimitsAnswerMail) {
  start("[[limits.rule]]\nscope = \"sasl_user\"\nmessages = \"1/1h\"\n");
  EXPECT_TRUE(filter_->needs().decide_mail);
}

// MAIL negotiated no-reply (limits turned on by a reload after the session
// opened): the outbound message limit answers at RCPT.
TEST_F(FilterTest, MessageLimitWithoutMailAnswersEveryRcpt) {
  start("[[limits.rule]]\nscope = \"sasl_user\"\nmessages = \"1/1h\"\n");
  auto send = [&](const std::string& rcpt) {
    auto c = open("alice@example.org");
    c->conn.address = "192.0.2.10";
    c->macros.set_stage('M', {{"{auth_authen}", "alice"}});
    auto a = decide_rcpt(*c, rcpt);
    auto b = decide_rcpt(*c, "carol@remote.example");
    EXPECT_EQ(a.kind, b.kind);
    return a;
  };
  EXPECT_EQ(send("bob@remote.example").kind, milter::Action::Kind::kContinue);
  auto second = send("bob@remote.example");
  EXPECT_EQ(second.kind, milter::Action::Kind::kTempfail);
  EXPECT_EQ(second.code, 451);
}

// A handler that sees neither MAIL nor RCPT (both negotiated no-reply, as
// another MTA or a later configuration may ask) does at end of message what
// they would have done.
TEST_F(FilterTest, NoReplyMailAndRcptAreNotedAtEndOfMessage) {
  start("batv.mode = \"tag\"\nledger.warmup_days = 0\n");
  ASSERT_TRUE(engine_->store().ledger_put("real@example.org", {kT0 - kDay, "alice@example.org", {"x@y.example"}}));
  std::string tagged = sign("alice@example.org");
  // a real bounce to a tagged address: accepted, the tag stripped
  auto c = open("");
  c->msg.rcpts.push_back({"<" + tagged + ">", {}});
  auto r = decide_eom(*c, testing::dsn("real@example.org", "alice@example.org", "bob@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kContinue);
  EXPECT_TRUE(swaps_rcpt(r, "<" + tagged + ">", "<alice@example.org>"));
  // the next message on the same connection starts afresh: a forged bounce
  // to the untagged address is refused, with nothing left of the first
  auto text = testing::dsn("forged@example.org", "alice@example.org", "victim@remote.example");
  c->msg = {};
  c->msg.sender = "<>";
  c->msg.rcpts.push_back({"<alice@example.org>", {}});
  r = decide_eom(*c, text);
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kReject);
  EXPECT_EQ(r.action.code, 550);
  for (const auto& m : r.mods) EXPECT_NE(m.kind, milter::Modification::Kind::kAddRcpt);
  ASSERT_FALSE(logs_.empty());
  EXPECT_NE(logs_.back().find("from=<> to=<alice@example.org> role=inbound kind=bounce"), std::string::npos)
      << logs_.back();
}

TEST_F(FilterTest, NoReplyRcptStillFindsTrapsAndOutboundRoles) {
  start("trap.addresses = [\"trap@example.org\"]\nbatv.mode = \"tag\"\n");
  auto c = open("");
  c->msg.rcpts.push_back({"<trap@example.org>", {}});
  auto r = decide_eom(*c, testing::dsn("x@elsewhere.example", "trap@example.org", "v@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kReject);
  auto l = listing("203.0.113.7");
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->listed);
  // the ORIGINATING service's message is outbound: it gets signed
  auto o = open("alice@example.org");
  o->macros.set_stage('M', {{"{daemon_name}", "ORIGINATING"}});
  o->msg.rcpts.push_back({"<bob@remote.example>", {}});
  r = decide_eom(*o, testing::plain("alice@example.org", "bob@remote.example", "out1@example.org"));
  bool chgfrom = false;
  for (const auto& m : r.mods) chgfrom |= m.kind == milter::Modification::Kind::kChangeFrom;
  EXPECT_TRUE(chgfrom);
}

// A store that fails every call: the message must get 4xx, never 5xx.
class BrokenStore : public store::Store {
 public:
  Status ledger_put(std::string_view, const store::LedgerEntry&) override { return down(); }
  Result<std::optional<store::LedgerEntry>> ledger_get(std::string_view) override { return down(); }
  Result<std::vector<store::LedgerItem>> ledger_recent(std::size_t) override { return down(); }
  Result<std::optional<std::int64_t>> ledger_first_time() override { return down(); }
  Result<std::vector<store::LedgerItem>> ledger_find(const store::LedgerFind&) override { return down(); }
  Status correspondent_record(std::string_view, std::string_view, std::int64_t) override { return down(); }
  Result<std::optional<std::int64_t>> correspondent_last_seen(std::string_view, std::string_view) override {
    return down();
  }
  Result<std::vector<store::Correspondent>> correspondents(std::string_view, std::size_t) override {
    return down();
  }
  Result<std::int64_t> counter_add(std::string_view, std::int64_t, std::int64_t) override { return down(); }
  Result<bool> counter_add_if_below(std::string_view, std::int64_t, std::int64_t, std::int64_t) override {
    return down();
  }
  Result<std::int64_t> counter_get(std::string_view) override { return down(); }
  Status record_put(std::string_view, std::string_view, std::int64_t) override { return {}; }
  Result<std::optional<std::string>> record_get(std::string_view) override {
    return std::optional<std::string>{};
  }
  Status record_erase(std::string_view) override { return down(); }
  Status records_update(std::span<const std::string>, const store::RecordUpdateFn&) override { return down(); }
  Result<store::Listing> listing_hit(std::string_view, const store::Evidence&) override { return down(); }
  Result<std::optional<store::Listing>> listing_get(std::string_view) override { return down(); }
  Status listing_put(const store::Listing&) override { return down(); }
  Result<std::vector<store::Listing>> listing_all() override { return down(); }
  Result<bool> listing_remove(std::string_view) override { return down(); }
  Status allowlist_add(std::string_view) override { return down(); }
  Result<bool> allowlist_remove(std::string_view) override { return down(); }
  Result<std::vector<std::string>> allowlist() override { return down(); }
  Result<bool> allowlisted(std::string_view) override { return down(); }
  Status apply(std::span<const store::WriteOp>) override { return down(); }
  Status export_all(store::ExportVisitor&) override { return down(); }
  Result<std::size_t> purge_expired() override { return down(); }

 private:
  static unexpected<Error> down() { return fail(Code::kUnavailable, "store is down"); }
};

TEST_F(FilterTest, StoreFailureIsTempfailNeverReject) {
  start("", std::make_unique<BrokenStore>());
  auto c = open("");
  decide_mail(*c);
  decide_rcpt(*c, "alice@example.org");
  auto r = decide_eom(*c, testing::dsn("x@example.org", "alice@example.org", "v@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kTempfail);
  EXPECT_EQ(r.action.code, 451);
  EXPECT_EQ(r.action.xcode, "4.3.0");
}

// A real LMDB store whose ledger record of the bounced message is damaged
// on disk (its version byte changed behind LMDB's back): the lookup fails
// (kMalformed), and the bounce is deferred, never refused as forged.
TEST_F(FilterTest, DamagedLedgerRecordIsTempfailNeverReject) {
  store::testing::TempDir dir;
  const std::string sender = "damaged-sender@example.org";
  {
    auto s = store::open_lmdb_store({.dir = dir.path(), .sync = true}, {});
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->ledger_put("ours@example.org", {kT0 - kDay, sender, {"v@remote.example"}}));
  }
  {  // The value: version byte, the time (a 5-byte varint), the sender's length, the sender.
    const std::string path = dir.path() + "/data.mdb";
    std::ifstream in(path, std::ios::binary);
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::size_t>(in.tellg());
    in.seekg(0);
    std::string bytes(size, '\0');  // (istreambuf_iterator trips GCC's -Wnull-dereference at -O1)
    in.read(bytes.data(), static_cast<std::streamsize>(size));
    const auto pos = bytes.find(sender);
    ASSERT_NE(pos, std::string::npos);
    ASSERT_EQ(bytes[pos - 7], '\x01');
    std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(static_cast<std::streamoff>(pos - 7));
    out.put('\x7f');
  }
  auto s = store::open_lmdb_store({.dir = dir.path(), .sync = false}, {.clock = &clock_});
  ASSERT_TRUE(s);
  ASSERT_EQ((*s)->ledger_get("ours@example.org").error().code(), Code::kMalformed);
  start("ledger.warmup_days = 0\n", std::move(*s));
  auto c = open("");
  decide_mail(*c);
  decide_rcpt(*c, "alice@example.org");
  auto r = decide_eom(*c, testing::dsn("ours@example.org", "alice@example.org", "v@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kTempfail);
  EXPECT_EQ(r.action.code, 451);
  EXPECT_EQ(r.action.xcode, "4.3.0");
}

TEST_F(FilterTest, StoreFailureFailsOpenWhenConfigured) {
  start("milter.on_error = \"accept\"\n", std::make_unique<BrokenStore>());
  auto c = open("");
  decide_mail(*c);
  decide_rcpt(*c, "alice@example.org");
  auto r = decide_eom(*c, testing::dsn("x@example.org", "alice@example.org", "v@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kContinue);
}

TEST_F(FilterTest, WithJudgeThreadsAStoreFailureIsStillTempfail) {
  judge_threads_ = 2;
  start("", std::make_unique<BrokenStore>());
  auto c = open("");
  decide_mail(*c);
  decide_rcpt(*c, "alice@example.org");
  auto r = decide_eom(*c, testing::dsn("x@example.org", "alice@example.org", "v@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kTempfail);
  EXPECT_EQ(r.action.code, 451);
  EXPECT_EQ(r.action.xcode, "4.3.0");
}

TEST_F(FilterTest, TrapHitListsTheClient) {
  start("trap.addresses = [\"trap@example.org\"]\n");
  auto c = open("");
  decide_mail(*c);
  decide_rcpt(*c, "trap@example.org");
  auto r = decide_eom(*c, testing::dsn("x@elsewhere.example", "trap@example.org", "v@remote.example"));
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kReject);
  auto l = listing("203.0.113.7");
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->listed);
  EXPECT_EQ(l->hits.at("bounce"), 1u);
  // its header section is kept as evidence, the trap address redacted
  auto ev = dnsbl::load_evidence(engine_->store(), "203.0.113.7");
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ(ev->front().kind, "bounce");
  EXPECT_NE(ev->front().headers.find("To: [trap address]"), std::string::npos) << ev->front().headers;
  EXPECT_EQ(ev->front().headers.find("trap@example.org"), std::string::npos);
  // plain spam to the trap does not list
  auto s = open("spammer@bad.example");
  s->conn.address = "198.51.100.9";
  decide_mail(*s);
  decide_rcpt(*s, "trap@example.org");
  decide_eom(*s, testing::plain("spammer@bad.example", "trap@example.org", "s1@bad.example"));
  ASSERT_TRUE(engine_->writer().flush());
  auto none = engine_->store().listing_get("198.51.100.9");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST(PathAddress, Forms) {
  EXPECT_EQ(path_address("<a@b>"), "a@b");
  EXPECT_EQ(path_address("<>"), "");
  EXPECT_EQ(path_address(" <@r1,@r2:a@b> "), "a@b");
  EXPECT_EQ(path_address("a@b"), "a@b");
}

}  // namespace
}  // namespace backstop::daemon

// ---- outbound limits and the autoreply gate (issue 7) ----

namespace backstop::daemon {
namespace {

std::string out_of_office(const std::string& from, const std::string& to, const std::string& in_reply_to) {
  return "From: " + from + "\r\nTo: " + to + "\r\nSubject: Out of Office: your message\r\n" +
         "Auto-Submitted: auto-replied\r\nMessage-ID: <oof." + to + "@example.org>\r\n" +
         (in_reply_to.empty() ? "" : "In-Reply-To: <" + in_reply_to + ">\r\n") +
         "Content-Type: text/plain\r\n\r\n"
         "I am out of the office until Monday with limited access to email.\r\n"
         "I will reply to your message when I return.\r\n";
}

std::string challenge(const std::string& from, const std::string& to) {
  return "From: " + from + "\r\nTo: " + to + "\r\nSubject: Please confirm your message\r\n" +
         "Auto-Submitted: auto-replied\r\nMessage-ID: <cr." + to + "@example.org>\r\n" +
         "Content-Type: text/plain\r\n\r\n"
         "I protect myself from spam with a challenge/response system. Your message is held.\r\n"
         "To have your message delivered, please verify that you are a human by clicking the link below:\r\n"
         "http://verify.example.org/confirm?id=123\r\n";
}

class OutboundTest : public FilterTest {
 protected:
  std::unique_ptr<Conversation> user(const std::string& sasl, const std::string& sender) {
    auto c = open(sender);
    c->conn.address = "192.0.2.10";
    c->macros.set_stage('M', {{"{auth_authen}", sasl}});
    return c;
  }
};

TEST_F(OutboundTest, MessageLimitTempfailsTheNPlusFirstAndLogsIt) {
  start("[[limits.rule]]\nscope = \"sasl_user\"\nmessages = \"3/1h\"\n");
  for (int i = 0; i < 3; ++i) {
    auto c = user("alice", "alice@example.org");
    EXPECT_EQ(decide_mail(*c).kind, milter::Action::Kind::kContinue) << i;
  }
  auto c = user("alice", "alice@example.org");
  auto a = decide_mail(*c);
  EXPECT_EQ(a.kind, milter::Action::Kind::kTempfail);
  EXPECT_EQ(a.code, 451);
  EXPECT_EQ(a.xcode, "4.7.1");
  EXPECT_NE(a.text.find("sasl_user alice (limit 3/1h)"), std::string::npos) << a.text;
  ASSERT_FALSE(logs_.empty());
  EXPECT_NE(logs_.back().find("limit=sasl_user scope=sasl_user identity=alice measure=messages"), std::string::npos)
      << logs_.back();
  EXPECT_NE(engine_->metrics().render().find("backstop_limit_trips_total{action=\"tempfail\",limit=\"sasl_user\",measure=\"messages\"} 1"),
            std::string::npos);
  // Inbound mail is never limited.
  auto in = open("someone@remote.example");
  EXPECT_EQ(decide_mail(*in).kind, milter::Action::Kind::kContinue);
}

// The limits write to the store: they run on the engine's worker, and the
// event loop (here, the test's thread) is answered from there.
TEST_F(OutboundTest, LimitsAreAnsweredFromTheWorkerNotTheEventLoop) {
  start("[[limits.rule]]\nscope = \"sasl_user\"\nmessages = \"3/1h\"\nrecipients = \"9/1h\"\n");
  auto c = user("alice", "alice@example.org");
  for (int step = 0; step < 2; ++step) {
    auto p = std::make_shared<std::promise<std::thread::id>>();
    milter::Decide d = [p](milter::Action) { p->set_value(std::this_thread::get_id()); };
    if (step == 0) {
      c->h->on_mail(c->ctx(), std::move(d));
    } else {
      c->h->on_rcpt(c->ctx(), {"<bob@remote.example>", {}}, std::move(d));
    }
    auto f = p->get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready) << step;
    EXPECT_NE(f.get(), std::this_thread::get_id()) << step;
  }
}

TEST_F(OutboundTest, HoldActionQuarantinesAtEndOfMessage) {
  start("[[limits.rule]]\nscope = \"sasl_user\"\nrecipients = \"1/1h\"\naction = \"hold\"\n");
  auto c = user("bob", "bob@example.org");
  EXPECT_EQ(decide_mail(*c).kind, milter::Action::Kind::kContinue);
  EXPECT_EQ(decide_rcpt(*c, "x@remote.example").kind, milter::Action::Kind::kContinue);
  EXPECT_EQ(decide_rcpt(*c, "y@remote.example").kind, milter::Action::Kind::kContinue);
  auto r = decide_eom(*c, "From: bob@example.org\r\nTo: x@remote.example\r\nSubject: hi\r\n\r\nhello\r\n");
  EXPECT_EQ(r.action.kind, milter::Action::Kind::kQuarantine);
}

TEST_F(OutboundTest, AutoreplyOnlyToCorrespondentsOncePerPeriod) {
  start("ledger.warmup_days = 0\n");
  // Alice writes to bob: bob becomes her correspondent.
  auto w = user("alice", "alice@example.org");
  decide_mail(*w);
  decide_rcpt(*w, "bob@remote.example");
  EXPECT_EQ(decide_eom(*w, "From: alice@example.org\r\nTo: bob@remote.example\r\nSubject: lunch\r\n\r\nhi\r\n")
                .action.kind,
            milter::Action::Kind::kContinue);
  ASSERT_TRUE(engine_->writer().flush());
  // Her out-of-office reply to bob passes once...
  auto r1 = user("alice", "");
  decide_mail(*r1);
  decide_rcpt(*r1, "bob@remote.example");
  EXPECT_EQ(decide_eom(*r1, out_of_office("alice@example.org", "bob@remote.example", "")).action.kind,
            milter::Action::Kind::kContinue);
  // ...not twice in a week...
  auto r2 = user("alice", "");
  decide_mail(*r2);
  decide_rcpt(*r2, "bob@remote.example");
  auto second = decide_eom(*r2, out_of_office("alice@example.org", "bob@remote.example", ""));
  EXPECT_EQ(second.action.kind, milter::Action::Kind::kReject);
  EXPECT_EQ(second.action.xcode, "5.7.1");
  EXPECT_NE(second.action.text.find("already got one"), std::string::npos) << second.action.text;
  // ...and never to a stranger.
  auto r3 = user("alice", "");
  decide_mail(*r3);
  decide_rcpt(*r3, "carol@remote.example");
  auto stranger = decide_eom(*r3, out_of_office("alice@example.org", "carol@remote.example", ""));
  EXPECT_EQ(stranger.action.kind, milter::Action::Kind::kReject);
  EXPECT_NE(stranger.action.text.find("not a known correspondent"), std::string::npos) << stranger.action.text;
  // A week later bob may get one again.
  clock_.advance(7 * kDay + 1);
  auto r4 = user("alice", "");
  decide_mail(*r4);
  decide_rcpt(*r4, "bob@remote.example");
  EXPECT_EQ(decide_eom(*r4, out_of_office("alice@example.org", "bob@remote.example", "")).action.kind,
            milter::Action::Kind::kContinue);
  // A challenge is refused even to a correspondent.
  auto cr = user("alice", "");
  decide_mail(*cr);
  decide_rcpt(*cr, "bob@remote.example");
  auto ch = decide_eom(*cr, challenge("alice@example.org", "bob@remote.example"));
  EXPECT_EQ(ch.action.kind, milter::Action::Kind::kReject);
  EXPECT_NE(ch.action.text.find("challenge/response"), std::string::npos) << ch.action.text;
  // A person's own message is never gated.
  auto own = user("alice", "alice@example.org");
  decide_mail(*own);
  decide_rcpt(*own, "dave@remote.example");
  EXPECT_EQ(decide_eom(*own, "From: alice@example.org\r\nTo: dave@remote.example\r\nSubject: I am out of the office\r\n\r\n"
                             "I am out of the office until Monday, call me.\r\n")
                .action.kind,
            milter::Action::Kind::kContinue);
}

TEST_F(OutboundTest, InboundFactsStopRepliesToListsEvenForCorrespondents) {
  start("ledger.warmup_days = 0\nautoreply.any_sender = [\"example.org\"]\n");
  // A list message reaches alice; the inbound path remembers its facts.
  auto in = open("owner-list@lists.remote.example");
  decide_mail(*in);
  decide_rcpt(*in, "alice@example.org");
  decide_eom(*in, "From: bob@remote.example\r\nTo: list@lists.remote.example\r\nList-Id: <list.lists.remote.example>\r\n"
                  "Message-ID: <post1@lists.remote.example>\r\nSubject: news\r\n\r\nhello list\r\n");
  // A personal message reaches alice too.
  auto p = open("bob@remote.example");
  decide_mail(*p);
  decide_rcpt(*p, "alice@example.org");
  decide_eom(*p, "From: bob@remote.example\r\nTo: alice@example.org\r\nMessage-ID: <personal1@remote.example>\r\n"
                 "Subject: hi\r\n\r\nhello alice\r\n");
  ASSERT_TRUE(engine_->writer().flush());
  auto r1 = user("alice", "");
  decide_mail(*r1);
  decide_rcpt(*r1, "owner-list@lists.remote.example");
  EXPECT_EQ(decide_eom(*r1, out_of_office("alice@example.org", "owner-list@lists.remote.example", "post1@lists.remote.example"))
                .action.kind,
            milter::Action::Kind::kReject);
  auto r2 = user("alice", "");
  decide_mail(*r2);
  decide_rcpt(*r2, "bob@remote.example");
  EXPECT_EQ(decide_eom(*r2, out_of_office("alice@example.org", "bob@remote.example", "post1@lists.remote.example"))
                .action.kind,
            milter::Action::Kind::kReject)
      << "the original came through a list";
  auto r3 = user("alice", "");
  decide_mail(*r3);
  decide_rcpt(*r3, "bob@remote.example");
  EXPECT_EQ(decide_eom(*r3, out_of_office("alice@example.org", "bob@remote.example", "personal1@remote.example"))
                .action.kind,
            milter::Action::Kind::kContinue)
      << "personal original, any_sender domain";
  EXPECT_NE(engine_->metrics().render().find("backstop_autoreply_gate_total{kind=\"autoreply\",result=\"system_sender\"}"),
            std::string::npos)
      << engine_->metrics().render();
}

TEST_F(OutboundTest, GateLogModeOnlyLogs) {
  start("ledger.warmup_days = 0\nautoreply.gate = \"log\"\n");
  auto r = user("alice", "");
  decide_mail(*r);
  decide_rcpt(*r, "carol@remote.example");
  EXPECT_EQ(decide_eom(*r, out_of_office("alice@example.org", "carol@remote.example", "")).action.kind,
            milter::Action::Kind::kContinue);
  ASSERT_FALSE(logs_.empty());
  bool seen = false;
  for (const auto& l : logs_) seen |= l.find("gate=autoreply result=stranger user=<alice@example.org> action=log") != std::string::npos;
  EXPECT_TRUE(seen);
}

}  // namespace
}  // namespace backstop::daemon
