// The whole milter filter: backstop's daemon::BackstopFilter over a
// daemon::Engine (memory store, a fixed clock, a fixed BATV key, no DNSBL
// zones, no notice mail) behind a milter::Session fed arbitrary packets from
// an "MTA", after a valid OPTNEG the target sends itself.
//
// Input: byte 0 chooses the configuration (bits 0-1: inbound defaults; BATV
// enforce with traps; outbound networks with limits that hold; limits that
// reject with fail-open, discard traps and the autoreply gate), what the MTA
// offers (bit 2: the no-reply and skip protocol bits or none; bit 3: every
// action or only headers and recipients); the rest is the MTA's bytes.
//
// Deterministic: a fresh Engine (and memory store) per input, at one fixed
// time; completions that the filter answers from the store writer's thread
// are posted to a queue this thread runs, as the server's event loop would
// (so the Session itself is only ever touched from this thread); the engine's
// threads are joined before the input ends. Files: one temporary directory,
// created once (the key file), removed at exit.
//
// Invariants: whatever the session writes decodes as milter responses; the
// OPTNEG reply asks only for offered actions and protocol bits; every
// modification is of a negotiated action; every REPLYCODE is a 4xx/5xx reply;
// a decision never fails to arrive; the engine's store writer stays healthy.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "batv/key_file.h"
#include "classify/classifier.h"
#include "common/clock.h"
#include "config/config.h"
#include "daemon/engine.h"
#include "daemon/milter_filter.h"
#include "milter/codec.h"
#include "milter/protocol.h"
#include "milter/session.h"

namespace {

using namespace backstop;
namespace act = milter::act;

// 2026-11-18: any fixed time; each Engine's first start.
constexpr std::int64_t kNow = 1'795'000'000;
// Longer than any decision takes (a ledger commit to the memory store); a
// decision that has not arrived by then never will.
constexpr std::chrono::seconds kDecisionDeadline{5};
// The fixed BATV signing key (key 0), so seeds can carry valid tags.
constexpr std::string_view kKeySecret = "backstop-fuzz-session-key-0";

struct World {
  std::filesystem::path dir;
  ManualClock clock;
  std::vector<config::Config> configs;
};

void remove_dir();

World& world() {
  static World* w = [] {
    auto* out = new World;
    std::string tmpl = (std::filesystem::temp_directory_path() / "backstop-fuzz-session-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    out->dir = tmpl;
    std::atexit(remove_dir);
    const std::string keys = (out->dir / "batv.keys").string();
    const std::string text = batv::format_key_file(0, kKeySecret);
    const int fd = ::open(keys.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) || ::close(fd) != 0) {
      std::abort();
    }
    out->clock.set(kNow);
    const std::string base = "state.dir = \"" + out->dir.string() + "\"\nstate.backend = \"memory\"\n" +
                             "batv.key_file = \"" + keys + "\"\ndomains.local = [\"example.org\"]\n";
    const char* variants[] = {
        // 0: inbound, the defaults (BATV tag, autoreply gate enforce after warm-up).
        "",
        // 1: BATV enforced from the start, traps, our relays, bounces of unknown origin held.
        "batv.mode = \"enforce\"\nbatv.grace_days = 0\nledger.warmup_days = 0\n"
        "trap.addresses = [\"trap@example.org\"]\ntrap.domains = [\"trap.example\"]\n"
        "relays.ours = [\"192.0.2.0/24\"]\nactions.bounce.unknown = \"quarantine\"\n",
        // 2: outbound by client network, limits that hold.
        "outbound.networks = [\"192.0.2.0/24\", \"2001:db8::/32\"]\nledger.warmup_days = 0\n"
        "[[limits.rule]]\nscope = \"client_ip\"\nmessages = \"2/1h\"\nrecipients = \"3/1h\"\n"
        "senders = \"2/1d\"\naction = \"hold\"\n",
        // 3: limits that reject, fail-open, discarding traps, the gate's other choices.
        "batv.sign = false\nmilter.on_error = \"accept\"\ntrap.action = \"discard\"\n"
        "trap.domains = [\"trap.example\"]\nledger.warmup_days = 0\nautoreply.refuse_action = \"discard\"\n"
        "autoreply.challenge = \"accept\"\nautoreply.list_hosts = [\"@lists.example.net\", \"198.51.100.0/24\"]\n"
        "[[limits.rule]]\nscope = \"sasl_user\"\nmessages = \"1/1m\"\naction = \"reject\"\n"
        "[[limits.rule]]\nscope = \"sender_domain\"\nmatch = \"example.org\"\nrecipients = \"5/1h\"\n"
        "action = \"tempfail\"\n",
    };
    for (const char* v : variants) {
      auto c = config::Config::parse(base + v);
      if (!c) {
        std::fprintf(stderr, "fuzz_session: configuration: %s\n", c.error().to_string().c_str());
        std::abort();
      }
      out->configs.push_back(std::move(*c));
    }
    return out;
  }();
  return *w;
}

void remove_dir() {
  std::error_code ec;
  std::filesystem::remove_all(world().dir, ec);
}

// The connection's thread: what the Session posts runs here, when drained.
class Executor {
 public:
  void post(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(fn));
    cv_.notify_one();
  }
  // Runs the first queued function, waiting up to `limit` for one; false
  // when none came.
  bool run_one(std::chrono::milliseconds limit) {
    std::function<void()> fn;
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, limit, [&] { return !queue_.empty(); })) return false;
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    fn();
    return true;
  }
  void drain() {
    while (run_one(std::chrono::milliseconds{0})) {
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
};

// Runs posted completions until the session no longer waits for a decision.
void settle(milter::Session& s, Executor& ex) {
  while (s.waiting() && !s.closed()) {
    if (!ex.run_one(kDecisionDeadline)) {
      std::fprintf(stderr, "fuzz_session: no decision within %lld s\n",
                   static_cast<long long>(kDecisionDeadline.count()));
      std::abort();
    }
  }
}

// The session's output: valid responses, within what was negotiated.
void check_output(std::string_view out, std::uint32_t offered_actions, std::uint32_t offered_protocol,
                  const milter::Session& s) {
  milter::ResponseDecoder d;
  d.feed(out);
  const std::uint32_t actions = s.negotiated_actions();
  // What the session wrote came from the same encoder, so each decoded
  // response re-encodes to its own bytes: their sizes add up to the output
  // unless it ends in a partial packet.
  std::size_t whole = 0;
  for (;;) {
    auto r = d.next();
    if (!r) std::abort();
    if (!r->has_value()) break;
    const milter::Response& v = **r;
    std::string again;
    if (!milter::encode(v, again)) std::abort();
    whole += again.size();
    std::uint32_t need = 0;
    if (const auto* o = std::get_if<milter::OptNegReply>(&v)) {
      if ((o->actions & ~offered_actions) != 0 || (o->protocol & ~offered_protocol) != 0) std::abort();
    } else if (const auto* rc = std::get_if<milter::ReplyCode>(&v)) {
      const std::string& t = rc->text;
      if (t.size() < 3 || (t[0] != '4' && t[0] != '5') || t[1] < '0' || t[1] > '9' || t[2] < '0' || t[2] > '9') {
        std::abort();
      }
    } else if (std::holds_alternative<milter::AddHeader>(v) || std::holds_alternative<milter::InsHeader>(v)) {
      need = act::kAddHdrs;
    } else if (std::holds_alternative<milter::ChgHeader>(v)) {
      need = act::kChgHdrs;
    } else if (std::holds_alternative<milter::AddRcpt>(v)) {
      need = act::kAddRcpt;
    } else if (std::holds_alternative<milter::AddRcptPar>(v)) {
      need = act::kAddRcptPar;
    } else if (std::holds_alternative<milter::DelRcpt>(v)) {
      need = act::kDelRcpt;
    } else if (std::holds_alternative<milter::ChgFrom>(v)) {
      need = act::kChgFrom;
    } else if (std::holds_alternative<milter::Quarantine>(v)) {
      need = act::kQuarantine;
    } else if (std::holds_alternative<milter::ReplBody>(v)) {
      need = act::kChgBody;
    }
    if ((actions & need) != need) std::abort();
  }
  if (whole != out.size()) std::abort();
}

}  // namespace

// The expensive set-up (compiling the built-in rules takes seconds under
// load) runs here, before the first input, so that no input's time includes it.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)world();
  if (!classify::builtin_rules()) std::abort();  // what every Engine's snapshot compiles, once
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  World& w = world();
  const std::uint8_t mode = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  Executor ex;  // outlives the engine, whose writer thread may post to it
  daemon::EngineOptions o;
  o.memory_store = true;
  o.clock = &w.clock;
  auto engine = daemon::Engine::create(w.configs[mode & 3], std::move(o));
  if (!engine) {
    std::fprintf(stderr, "fuzz_session: engine: %s\n", engine.error().to_string().c_str());
    std::abort();
  }
  // A log that takes the lines, so that they are written.
  daemon::BackstopFilter filter(engine->get(), [](std::string_view) {});

  const std::uint32_t offered_protocol = (mode & 4) ? 0x1fffffu : 0u;
  const std::uint32_t offered_actions =
      (mode & 8) ? act::kAll : (act::kAddHdrs | act::kAddRcpt | act::kDelRcpt);
  milter::SessionConfig sc;
  sc.max_body = static_cast<std::size_t>((*engine)->snapshot()->max_body);
  auto s = milter::Session::create(filter, sc, [&ex](std::function<void()> fn) { ex.post(std::move(fn)); });
  std::string optneg;
  if (!milter::encode(milter::Command{milter::OptNeg{milter::kVersion, offered_actions, offered_protocol}}, optneg)) {
    std::abort();
  }
  s->feed(optneg);
  settle(*s, ex);
  s->feed(in);
  settle(*s, ex);
  check_output(s->take_output(), offered_actions, offered_protocol, *s);

  s->shutdown();
  ex.drain();
  s.reset();
  if (!(*engine)->writer().flush()) std::abort();
  if (!(*engine)->healthy()) std::abort();
  return 0;
}
