// Poison messages through the real milter server (milter::make_server over
// BackstopFilter, a loopback socket, the wire protocol): a message whose
// classification fails (a failed pattern scan, or an exception) gets 451
// 4.3.0 for itself alone (or passes under milter.on_error = "accept"), never
// 5xx; it is counted and logged; and the messages after it, on the same
// connection and on new ones, are judged as usual. The failures are
// injected through EngineOptions::classify_hook (test code only).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/engine.h"
#include "daemon/milter_filter.h"
#include "daemon/test_messages.h"
#include "milter/codec.h"
#include "milter/server.h"
#include "net/listen.h"

namespace backstop::daemon {
namespace {

constexpr std::int64_t kT0 = 1'795'000'000;  // 2026-11-18
// Bounces of these originals are poison: the hook below (test code, the only
// place they mean anything) fails their classification.
constexpr std::string_view kScanFails = "poison-scan@example.org";
constexpr std::string_view kThrows = "poison-throw@example.org";

void poison(const mail::Message&, classify::Verdict& v) {
  if (v.refs.message_id == kScanFails) v.scan_failed = true;
  if (v.refs.message_id == kThrows) throw std::runtime_error("classifier bug");
}

// The MTA side of one milter connection over loopback TCP, blocking, like
// Postfix: offers every protocol step and waits for a reply only where the
// negotiated mask says the filter sends one.
class Mta {
 public:
  explicit Mta(const std::string& endpoint) {
    auto spec = net::parse_listen(endpoint);
    if (!spec) return;
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(spec->port);
    ::inet_pton(AF_INET, spec->host.c_str(), &a.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    if (!send(milter::OptNeg{6, milter::act::kAll, 0x1fffff})) return;
    auto r = read();
    if (r && std::holds_alternative<milter::OptNegReply>(*r)) {
      proto_ = std::get<milter::OptNegReply>(*r).protocol;
      ready_ = true;
    }
  }
  ~Mta() {
    if (fd_ >= 0) ::close(fd_);
  }
  Mta(const Mta&) = delete;
  Mta& operator=(const Mta&) = delete;

  bool ready() const { return ready_; }

  // One message (raw: CRLF header section, blank line, body) from `sender`
  // to `rcpt`, as Postfix sends it. Returns the answer at end of message:
  // the reply text of a 4xx/5xx ("451 4.3.0 ..."), or "continue", "accept",
  // "discard", "quarantine"; "" when the connection failed or was closed.
  std::string message(const std::string& sender, const std::string& rcpt, const std::string& raw) {
    using namespace milter;
    using milter::proto::kNoBody, milter::proto::kNoData, milter::proto::kNoEoh, milter::proto::kNoHdrs,
        milter::proto::kNoMail, milter::proto::kNoRcpt, milter::proto::kNrBody, milter::proto::kNrData,
        milter::proto::kNrEoh, milter::proto::kNrHdr, milter::proto::kNrMail, milter::proto::kNrRcpt;
    if (!ready_) return "";
    ++seq_;
    bool ok = send(MacroDef{'M', {{"i", "Q" + std::to_string(seq_)}}}) &&
              step(Mail{{"<" + sender + ">"}}, kNrMail, kNoMail) &&
              step(Rcpt{{"<" + rcpt + ">"}}, kNrRcpt, kNoRcpt) && step(Data{}, kNrData, kNoData);
    const auto end = raw.find("\r\n\r\n");
    std::string_view head = std::string_view(raw).substr(0, end);
    while (ok && !head.empty()) {  // one Header command per field, folded lines joined
      std::size_t next = head.find("\r\n");
      while (next != std::string_view::npos && next + 2 < head.size() &&
             (head[next + 2] == ' ' || head[next + 2] == '\t')) {
        next = head.find("\r\n", next + 2);
      }
      const std::string_view field = head.substr(0, next);
      head = next == std::string_view::npos ? std::string_view() : head.substr(next + 2);
      const auto colon = field.find(':');
      std::string value(field.substr(colon + 1));
      if (!value.empty() && value.front() == ' ') value.erase(0, 1);
      ok = step(Header{std::string(field.substr(0, colon)), value}, kNrHdr, kNoHdrs);
    }
    ok = ok && step(Eoh{}, kNrEoh, kNoEoh) && step(Body{raw.substr(end + 4)}, kNrBody, kNoBody) &&
         send(Eob{});
    std::string answer;
    while (ok && answer.empty()) {
      auto r = read();
      if (!r) return "";
      if (!is_final(*r)) continue;  // modifications, progress
      if (auto* code = std::get_if<ReplyCode>(&*r)) {
        answer = code->text;
      } else if (auto* s = std::get_if<Simple>(&*r)) {
        answer = s->code == rsp::kContinue ? "continue"
                 : s->code == rsp::kAccept ? "accept"
                 : s->code == rsp::kDiscard ? "discard"
                 : s->code == rsp::kTempfail ? "tempfail"
                 : s->code == rsp::kReject  ? "reject"
                                            : std::string(1, s->code);
      } else {
        answer = "quarantine";
      }
    }
    return ok && send(Abort{}) ? answer : "";  // Postfix's end of transaction
  }

 private:
  bool send(const milter::Command& c) {
    std::string w;
    if (fd_ < 0 || !milter::encode(c, w)) return false;
    return ::send(fd_, w.data(), w.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(w.size());
  }
  // Sends one event; reads its reply when the filter sends one (not skipped,
  // not no-reply). False on a broken connection or a refusal of the event.
  bool step(const milter::Command& c, std::uint32_t nr, std::uint32_t no) {
    if (proto_ & no) return true;
    if (!send(c)) return false;
    if (proto_ & nr) return true;
    auto r = read();
    return r && *r == milter::Response{milter::Simple{milter::rsp::kContinue}};
  }
  std::optional<milter::Response> read() {
    for (;;) {
      auto r = dec_.next();
      if (!r) return std::nullopt;
      if (r->has_value()) return std::move(**r);
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) return std::nullopt;
      char buf[4096];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return std::nullopt;
      dec_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }

  int fd_ = -1;
  bool ready_ = false;
  std::uint32_t proto_ = 0;
  int seq_ = 0;
  milter::ResponseDecoder dec_;
};

class PoisonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("backstop-poison-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (server_) {
      server_->stop();
      server_->wait();
    }
    server_.reset();
    filter_.reset();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The engine (memory store, the poison hook, a ledger with one real
  // outbound message), the filter and a milter server on 127.0.0.1.
  void start(const std::string& extra = "") {
    auto cfg = config::Config::parse("state.dir = \"" + dir_.string() +
                                     "\"\ndomains.local = [\"example.org\"]\nbatv.mode = \"tag\"\n"
                                     "ledger.warmup_days = 0\n" + extra);
    ASSERT_TRUE(cfg) << cfg.error().to_string();
    EngineOptions o;
    o.clock = &clock_;
    o.memory_store = true;
    o.classify_hook = poison;
    auto e = Engine::create(*cfg, std::move(o));
    ASSERT_TRUE(e) << e.error().to_string();
    engine_ = std::move(*e);
    ASSERT_TRUE(engine_->store().ledger_put("real@example.org", {kT0 - 3600, "alice@example.org", {"bob@remote.example"}}));
    filter_ = std::make_unique<BackstopFilter>(engine_.get(), [this](std::string_view line) {
      std::lock_guard lock(mu_);
      logs_.emplace_back(line);
    });
    milter::ServerOptions so;
    so.net.listen = {"inet:127.0.0.1:0"};
    so.net.threads = 2;
    auto s = milter::make_server(*filter_, std::move(so));
    ASSERT_TRUE(s) << s.error().to_string();
    server_ = std::move(*s);
    server_->start();
  }
  std::string endpoint() const { return server_->endpoints().at(0); }

  // Bounces to alice@example.org of the message with Message-ID `original`.
  static std::string bounce(std::string_view original) {
    return testing::dsn(std::string(original), "alice@example.org", "bob@remote.example");
  }
  static std::string plain() {
    return testing::plain("carol@remote.example", "alice@example.org", "note.1@remote.example");
  }

  // The value of the exposition line that starts with `series`, or -1.
  double metric(const std::string& series) const {
    const std::string text = engine_->metrics().render();
    const auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }
  std::size_t logged(const std::string& what) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& l : logs_) n += l.find(what) != std::string::npos;
    return n;
  }

  std::filesystem::path dir_;
  ManualClock clock_{kT0};
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<BackstopFilter> filter_;
  std::unique_ptr<net::Server> server_;
  std::mutex mu_;
  std::vector<std::string> logs_;
};

constexpr std::string_view kTempfail = "451 4.3.0 ";
constexpr std::string_view kRejected = "550 5.7.1 ";

TEST_F(PoisonTest, APoisonMessageIsTempfailedAloneAndTheConnectionGoesOn) {
  start();
  Mta first(endpoint());
  ASSERT_TRUE(first.ready());
  // Judging works: a bounce of a message we sent passes, a forged one is refused.
  EXPECT_EQ(first.message("", "alice@example.org", bounce("real@example.org")), "continue");
  EXPECT_TRUE(first.message("", "alice@example.org", bounce("forged@example.org")).starts_with(kRejected));
  // A failed scan of a bounce that would be refused: 451, not 550.
  const std::string scan = first.message("", "alice@example.org", bounce(kScanFails));
  EXPECT_TRUE(scan.starts_with(kTempfail)) << scan;
  // The same connection goes on.
  EXPECT_EQ(first.message("carol@remote.example", "alice@example.org", plain()), "continue");
  EXPECT_TRUE(first.message("", "alice@example.org", bounce("forged@example.org")).starts_with(kRejected));
  // An exception while judging: 451 for that message, the connection stays.
  const std::string thrown = first.message("", "alice@example.org", bounce(kThrows));
  EXPECT_TRUE(thrown.starts_with(kTempfail)) << thrown;
  EXPECT_EQ(first.message("", "alice@example.org", bounce("real@example.org")), "continue");
  EXPECT_TRUE(first.message("", "alice@example.org", bounce("forged@example.org")).starts_with(kRejected));

  // A new connection, while the first stays open: the same.
  Mta second(endpoint());
  ASSERT_TRUE(second.ready());
  EXPECT_TRUE(second.message("", "alice@example.org", bounce(kThrows)).starts_with(kTempfail));
  EXPECT_TRUE(second.message("", "alice@example.org", bounce(kScanFails)).starts_with(kTempfail));
  EXPECT_EQ(second.message("carol@remote.example", "alice@example.org", plain()), "continue");
  EXPECT_TRUE(second.message("", "alice@example.org", bounce("forged@example.org")).starts_with(kRejected));
  EXPECT_EQ(first.message("", "alice@example.org", bounce("real@example.org")), "continue");

  // Counted by place, each message once, and logged.
  EXPECT_EQ(metric("backstop_errors_total{where=\"classify\"}"), 2);
  EXPECT_EQ(metric("backstop_errors_total{where=\"internal\"}"), 2);
  EXPECT_EQ(metric("backstop_messages_total{action=\"tempfail\",kind=\"unknown\",role=\"inbound\",verdict=\"unknown\"}"), 4);
  EXPECT_EQ(metric("backstop_messages_total{action=\"reject\",kind=\"bounce\",role=\"inbound\",verdict=\"not_ours\"}"), 4);
  EXPECT_EQ(logged("internal failure: classification failed: a pattern scan failed"), 2u);
  EXPECT_EQ(logged("internal failure: exception while judging: classifier bug"), 2u);
  // No connection was closed by an exception.
  const auto st = server_->stats();
  EXPECT_EQ(st.exceptions, 0u);
  EXPECT_EQ(st.connections, 2u);
  EXPECT_EQ(st.active, 2u);
}

// Under milter.on_error = "accept" a poison message passes unchanged
// (counted all the same); still never 5xx.
TEST_F(PoisonTest, APoisonMessagePassesUnderFailOpen) {
  start("milter.on_error = \"accept\"\n");
  Mta mta(endpoint());
  ASSERT_TRUE(mta.ready());
  EXPECT_EQ(mta.message("", "alice@example.org", bounce(kScanFails)), "continue");
  EXPECT_EQ(mta.message("", "alice@example.org", bounce(kThrows)), "continue");
  EXPECT_TRUE(mta.message("", "alice@example.org", bounce("forged@example.org")).starts_with(kRejected));
  EXPECT_EQ(metric("backstop_errors_total{where=\"classify\"}"), 1);
  EXPECT_EQ(metric("backstop_errors_total{where=\"internal\"}"), 1);
  EXPECT_EQ(metric("backstop_messages_total{action=\"accept\",kind=\"unknown\",role=\"inbound\",verdict=\"unknown\"}"), 2);
  EXPECT_EQ(logged("(on_error = accept)"), 2u);
  EXPECT_EQ(server_->stats().exceptions, 0u);
}

}  // namespace
}  // namespace backstop::daemon
