// milter_testd: a tiny milter daemon for tests and the load benchmark (never
// installed). It serves milter::Server with a scripted Filter:
//   RCPT <reject@...>    -> 550 5.7.1 (REPLYCODE)
//   RCPT <tempfail@...>  -> 451 4.7.1 (REPLYCODE)
//   RCPT <hold@...>      -> quarantine at end of message
//   HELO reject.helo     -> 550 5.7.1 for the session (--all-events only)
//   MAIL <changeme@D>    -> CHGFROM <prvs=0000000000=changeme@D> at EOM
//   every message        -> ADDHEADER X-Backstop-Test: seen; size=N; rcpts=N
// --minimal: the cheapest filter that still takes what backstop serve takes
// (no HELO, MAIL no-reply, RCPT and end of message answered, headers and
// body stored) and changes nothing: the end-to-end benchmark's floor of
// what any such milter costs the MTA.
// Usage: milter_testd [--listen SPEC]... [--all-events] [--minimal] [--delay-ms N]
//                     [--threads N] [--idle-timeout-ms N] [--packet-timeout-ms N]
//                     [--progress-ms N] [--unix-mode OCTAL]
// Prints "listening SPEC" per endpoint on stdout, then serves until SIGTERM or
// SIGINT (graceful drain, exit 0).
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "milter/server.h"

using namespace backstop::milter;

namespace {

// Delivers completions later from a separate thread: simulates a filter
// waiting on I/O (DNS, store).
class Delayer {
 public:
  explicit Delayer(int ms) : ms_(ms) {
    if (ms_ > 0) t_ = std::thread([this] { loop(); });
  }
  ~Delayer() {
    {
      std::lock_guard l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (t_.joinable()) t_.join();
  }
  void run(std::function<void()> fn) {
    if (ms_ <= 0) return fn();
    std::lock_guard l(m_);
    q_.emplace_back(std::chrono::steady_clock::now() + std::chrono::milliseconds(ms_), std::move(fn));
    cv_.notify_all();
  }

 private:
  void loop() {
    std::unique_lock l(m_);
    while (!stop_) {
      if (q_.empty()) {
        cv_.wait(l);
        continue;
      }
      auto [when, fn] = q_.front();
      if (std::chrono::steady_clock::now() < when) {
        cv_.wait_until(l, when);
        continue;
      }
      q_.pop_front();
      l.unlock();
      fn();
      l.lock();
    }
  }
  int ms_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::function<void()>>> q_;
  bool stop_ = false;
  std::thread t_;
};

class TestFilter final : public Filter {
 public:
  TestFilter(bool all_events, bool minimal, int delay_ms)
      : all_(all_events), minimal_(minimal), delay_(delay_ms) {}
  Needs needs() const override {
    Needs n;
    n.decide_rcpt = true;
    if (minimal_) {
      n.want_helo = false;
      n.actions = act::kAddHdrs;
      return n;
    }
    if (all_) {
      n.decide_connect = n.decide_helo = n.decide_mail = n.decide_header = n.decide_eoh =
          n.decide_body = true;
    }
    n.actions = act::kAddHdrs | act::kChgFrom | act::kQuarantine;
    n.macros[static_cast<int>(MacroStage::kConnect)] = "j {daemon_name} {client_addr} _";
    n.macros[static_cast<int>(MacroStage::kEnvFrom)] = "i {auth_authen} {mail_addr}";
    return n;
  }
  std::unique_ptr<Handler> open() override { return std::make_unique<H>(*this); }

 private:
  struct H final : Handler {
    TestFilter& f;
    explicit H(TestFilter& ff) : f(ff) {}
    void later(Decide d, Action a) {
      f.delay_.run([d = std::move(d), a = std::move(a)]() mutable { d(std::move(a)); });
    }
    void on_connect(const Context&, Decide d) override { later(std::move(d), Action::cont()); }
    void on_helo(const Context& c, Decide d) override {
      if (c.conn.helo == "reject.helo")
        return later(std::move(d), Action::reject(550, "5.7.1", "HELO refused by test"));
      later(std::move(d), Action::cont());
    }
    void on_mail(const Context&, Decide d) override { later(std::move(d), Action::cont()); }
    void on_rcpt(const Context&, const Recipient& r, Decide d) override {
      if (r.address.starts_with("<reject@"))
        return later(std::move(d), Action::reject(550, "5.7.1", "rejected by test"));
      if (r.address.starts_with("<tempfail@"))
        return later(std::move(d), Action::tempfail(451, "4.7.1", "try again later"));
      if (r.address.starts_with("<hold@")) return later(std::move(d), Action::quarantine("test hold"));
      later(std::move(d), Action::cont());
    }
    void on_header(const Context&, const StoredHeader&, Decide d) override {
      later(std::move(d), Action::cont());
    }
    void on_eoh(const Context&, Decide d) override { later(std::move(d), Action::cont()); }
    void on_body(const Context&, std::string_view, Decide d) override {
      later(std::move(d), Action::cont());
    }
    void on_eom(const Context& c, DecideEom d) override {
      EomResult r;
      if (f.minimal_) {
        return f.delay_.run([d = std::move(d), r = std::move(r)]() mutable { d(std::move(r)); });
      }
      const std::string& s = c.msg.sender;
      if (s.starts_with("<changeme@"))
        r.mods.push_back(Modification::change_from("<prvs=0000000000=" + s.substr(1)));
      r.mods.push_back(Modification::add_header(
          "X-Backstop-Test", "seen; size=" + std::to_string(c.msg.body_size) +
                                 "; rcpts=" + std::to_string(c.msg.rcpts.size())));
      f.delay_.run([d = std::move(d), r = std::move(r)]() mutable { d(std::move(r)); });
    }
  };
  bool all_;
  bool minimal_;
  Delayer delay_;
};

}  // namespace

int main(int argc, char** argv) {
  ServerOptions opts;
  opts.net.listen.clear();
  bool all = false, minimal = false;
  int delay = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "milter_testd: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--listen") opts.net.listen.push_back(val());
    else if (a == "--all-events") all = true;
    else if (a == "--minimal") minimal = true;
    else if (a == "--delay-ms") delay = std::stoi(val());
    else if (a == "--threads") opts.net.threads = static_cast<unsigned>(std::stoi(val()));
    else if (a == "--idle-timeout-ms") opts.idle_timeout = std::chrono::milliseconds(std::stoi(val()));
    else if (a == "--packet-timeout-ms") opts.packet_timeout = std::chrono::milliseconds(std::stoi(val()));
    else if (a == "--progress-ms") opts.progress_interval = std::chrono::milliseconds(std::stoi(val()));
    else if (a == "--unix-mode") opts.net.unix_mode = static_cast<unsigned>(std::stoul(val(), nullptr, 8));
    else {
      std::fprintf(stderr, "milter_testd: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (opts.net.listen.empty()) opts.net.listen.push_back("inet:127.0.0.1:0");
  opts.net.log = [](std::string_view m) {
    std::fprintf(stderr, "milter_testd: %.*s\n", static_cast<int>(m.size()), m.data());
  };

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by the server threads
  signal(SIGPIPE, SIG_IGN);

  TestFilter filter(all, minimal, delay);
  auto server = make_server(filter, opts);
  if (!server) {
    std::fprintf(stderr, "milter_testd: %s\n", server.error().to_string().c_str());
    return 2;
  }
  for (const auto& e : (*server)->endpoints()) std::printf("listening %s\n", e.c_str());
  std::fflush(stdout);
  (*server)->start();
  int sig = 0;
  sigwait(&set, &sig);
  (*server)->stop();
  (*server)->wait();
  auto st = (*server)->stats();
  std::fprintf(stderr,
               "milter_testd: stopped: connections=%llu protocol_errors=%llu timeouts=%llu "
               "exceptions=%llu\n",
               static_cast<unsigned long long>(st.connections),
               static_cast<unsigned long long>(st.protocol_errors),
               static_cast<unsigned long long>(st.timeouts),
               static_cast<unsigned long long>(st.exceptions));
  return 0;
}
