#include "daemon/serve.h"

#include <signal.h>
#include <pwd.h>
#include <sys/resource.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/text.h"
#include "common/worker.h"
#include "common/thread_name.h"
#include "daemon/dnsbl_service.h"
#include "daemon/dnsbl_web.h"
#include "daemon/engine.h"
#include "daemon/http.h"
#include "daemon/milter_filter.h"
#include "daemon/policy_handler.h"
#include "daemon/privileges.h"
#include "daemon/state.h"
#include "dnsbl/listings.h"
#include "dnsbl/settings.h"
#include "milter/server.h"
#include "net/server.h"
#include "policyd/server.h"
#include "store/redis_loop.h"

namespace backstop::daemon {
namespace {

// stdio buffer for a buffered stderr log: ~200 decision lines between flushes.
constexpr std::size_t kStderrBuffer = 64 * 1024;

// kEnvironment when the log target cannot be opened.
Result<std::shared_ptr<spdlog::logger>> make_logger(const config::Config& cfg) {
  const auto& target = cfg.get_string("log.target");
  std::shared_ptr<spdlog::logger> log;
  try {
    if (target == "stderr") {
      log = std::make_shared<spdlog::logger>("backstop", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else if (target == "syslog") {
      log = std::make_shared<spdlog::logger>(
          "backstop", std::make_shared<spdlog::sinks::syslog_sink_mt>("backstop", LOG_PID, LOG_MAIL, false));
    } else {
      log = std::make_shared<spdlog::logger>("backstop",
                                             std::make_shared<spdlog::sinks::basic_file_sink_mt>(target));
    }
  } catch (const spdlog::spdlog_ex& e) {
    return unexpected<Error>(Error(Code::kEnvironment, std::string("log.target: ") + e.what()));
  }
  log->set_level(spdlog::level::from_str(cfg.get_string("log.level")));
  if (cfg.get_int("log.flush_ms") == 0 || target == "syslog") {
    log->flush_on(spdlog::level::trace);
  } else {
    // Lines below warn wait for the main loop's periodic flush: one write per
    // batch of decisions instead of one per message. stderr is unbuffered in
    // C, so give it a buffer (flushed by the loop, on warn and at exit).
    if (target == "stderr") std::setvbuf(stderr, nullptr, _IOFBF, kStderrBuffer);
    log->flush_on(spdlog::level::warn);
  }
  return log;
}

// The dump lines of keys starting with `prefix` (to tell what a reload changed).
std::string keys_with_prefix(const config::Config& c, std::string_view prefix) {
  std::string out;
  std::string dump = c.dump(false, config::Config::Secrets::kShown);
  std::size_t pos = 0;
  while (pos < dump.size()) {
    auto nl = dump.find('\n', pos);
    std::string_view line(dump.data() + pos, (nl == std::string::npos ? dump.size() : nl) - pos);
    if (line.starts_with(prefix)) out.append(line).push_back('\n');
    pos = nl == std::string::npos ? dump.size() : nl + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The listeners: the milter and policy servers and the HTTP endpoint, with
// the filter and handler they serve. Everything that constructs them is in
// open_listeners(); start() and stop() only run and drain what it built.
// ---------------------------------------------------------------------------

struct Listeners {
  Listeners() = default;
  Listeners(const Listeners&) = delete;
  Listeners& operator=(const Listeners&) = delete;
  ~Listeners() { stop(); }

  // Serves connections: the milter and policy servers (the HTTP endpoint
  // serves from open_listeners() on, on its own thread).
  void start() {
    running = true;
    if (milter_server) milter_server->start();
    if (policy_server) policy_server->start();
  }

  // Drains the milter server, then the policy server, then stops the HTTP
  // endpoint and joins its thread. Does nothing unless started and not yet stopped.
  void stop() {
    if (!running) return;
    running = false;
    if (milter_server) {
      milter_server->stop();
      milter_server->wait();
    }
    if (policy_server) {
      policy_server->stop();
      policy_server->wait();
    }
    http.reset();
    web.reset();
  }

  // Member order is destruction order, reversed: servers before what they serve.
  std::unique_ptr<BackstopFilter> filter;
  std::unique_ptr<net::Server> milter_server;
  std::unique_ptr<PolicyHandler> policy_handler;
  std::unique_ptr<net::Server> policy_server;
  std::unique_ptr<HttpEndpoint> http;
  std::unique_ptr<DnsblWeb> web;  // the trap DNSBL's page: own threads, never the mail path
  bool running = false;
};

// User names or numeric uids to uids. kEnvironment naming an unknown user.
Result<std::vector<unsigned>> resolve_users(const std::vector<std::string>& names) {
  std::vector<unsigned> out;
  for (const auto& n : names) {
    unsigned uid = 0;
    auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), uid);
    if (!n.empty() && ec == std::errc() && p == n.data() + n.size()) {
      out.push_back(uid);
      continue;
    }
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16 * 1024);
    if (::getpwnam_r(n.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
      return fail(Code::kEnvironment, "no such user '" + n + "'");
    out.push_back(found->pw_uid);
  }
  return out;
}

// The mode of unix: socket files, milter's and policy's alike.
unsigned socket_mode(const config::Config& cfg) {
  // Validated when the file was read (config::Syntax::kFileMode).
  return static_cast<unsigned>(std::stoul(cfg.get_string("milter.socket_mode"), nullptr, 8));
}

// Every listener `cfg` enables, bound (serve binds them before it drops
// privileges) and not yet served.
struct Bound {
  std::shared_ptr<net::Listening> milter, policy, metrics, web;

  std::vector<std::string> unix_paths() const {
    std::vector<std::string> out;
    for (const auto* l : {&milter, &policy, &metrics, &web}) {
      if (*l) out.insert(out.end(), (*l)->unix_paths().begin(), (*l)->unix_paths().end());
    }
    return out;
  }
};

// Binds milter.listen, policy.listen, metrics.listen and dnsbl.web.listen
// (those not empty).
// Errors name the key; then nothing stays bound.
Result<Bound> bind_listeners(const config::Config& cfg) {
  Bound b;
  for (auto [prefix, slot] : {std::pair{"milter", &b.milter}, std::pair{"policy", &b.policy}}) {
    const auto& listen = cfg.get_string(std::string(prefix) + ".listen");
    if (listen.empty()) continue;
    auto l = net::Listening::bind(prefix, {listen}, socket_mode(cfg));
    if (!l) return fail(l.error().code(), std::string(prefix) + ".listen: " + l.error().message());
    *slot = std::move(*l);
  }
  if (const auto& listen = cfg.get_string("metrics.listen"); !listen.empty()) {
    auto l = HttpEndpoint::bind(listen);
    BACKSTOP_TRY(l);
    b.metrics = std::move(*l);
  }
  if (!cfg.get_string("dnsbl.web.listen").empty()) {
    auto l = DnsblWeb::bind(cfg);
    BACKSTOP_TRY(l);
    b.web = std::move(*l);
  }
  return b;
}

// The options `cfg` gives a front end's listener: the socket bound ahead,
// PREFIX.allow_clients, PREFIX.allow_users (resolved to uids) and the
// warning log.
Status listener_options(const config::Config& cfg, const std::string& prefix, std::shared_ptr<net::Listening> bound,
                        const std::shared_ptr<spdlog::logger>& log, net::ServerOptions* o) {
  o->bound = std::move(bound);
  o->log = [log](std::string_view w) { log->warn("{}", text::log_safe(w)); };
  o->allow_networks = cfg.get_list(prefix + ".allow_clients");
  auto uids = resolve_users(cfg.get_list(prefix + ".allow_users"));
  if (!uids) return fail(uids.error().code(), prefix + ".allow_users: " + uids.error().message());
  o->allow_uids = std::move(*uids);
  return {};
}

// Builds the servers of the listeners in `bound` (bind_listeners(cfg)); the
// milter and policy servers serve from start(). `eng`, `dnsbl` and `log`
// outlive the result.
Result<std::unique_ptr<Listeners>> open_listeners(const config::Config& cfg, const Bound& bound, Engine& eng,
                                                  DnsblService* dnsbl, const std::shared_ptr<spdlog::logger>& log) {
  auto out = std::make_unique<Listeners>();
  out->filter = std::make_unique<BackstopFilter>(&eng, [log](std::string_view line) { log->info("{}", text::log_safe(line)); },
                                                 dnsbl);
  if (bound.milter) {
    milter::ServerOptions so;
    BACKSTOP_TRY(listener_options(cfg, "milter", bound.milter, log, &so.net));
    so.net.threads = static_cast<unsigned>(cfg.get_int("milter.threads"));
    so.session.max_body = static_cast<std::size_t>(cfg.get_int("classify.max_body"));
    if (common::Worker* judges = eng.judge_worker()) {
      // A remote store: each milter thread reads it on its own connection,
      // as many as the store's pool holds for them (redis_loop_connections).
      auto budget = std::make_shared<std::atomic<std::int64_t>>(
          static_cast<std::int64_t>(redis_loop_connections(cfg)));
      so.net.loop_state = [&eng, judges, budget](asio::io_context& io) -> net::LoopState {
        if (budget->fetch_sub(1) <= 0) return {};  // this thread reads through the judge worker
        auto reads = store::make_redis_loop_reads(
            eng.store(), io, [judges](std::function<void()> task) { return judges->post(std::move(task)); });
        if (!reads) return {};
        set_thread_loop_reads(reads.get());
        store::RedisLoopReads* raw = reads.get();
        return net::LoopState{std::shared_ptr<void>(reads.release(),
                                                    [](void* p) {
                                                      set_thread_loop_reads(nullptr);
                                                      delete static_cast<store::RedisLoopReads*>(p);
                                                    }),
                              [raw] { raw->quiesce(); }};
      };
    }
    auto s = milter::make_server(*out->filter, so);
    if (!s) return unexpected<Error>(Error(s.error().code(), "milter.listen: " + s.error().message()));
    out->milter_server = std::move(*s);
  }

  out->policy_handler = std::make_unique<PolicyHandler>(
      &eng, [log](std::string_view line) { log->info("{}", text::log_safe(line)); }, dnsbl);
  if (bound.policy) {
    policyd::ServerOptions po;
    BACKSTOP_TRY(listener_options(cfg, "policy", bound.policy, log, &po.net));
    po.net.threads = 1;  // policy requests are tiny; one loop serves thousands per second
    auto p = policyd::make_server(*out->policy_handler, po);
    if (!p) return unexpected<Error>(Error(p.error().code(), "policy.listen: " + p.error().message()));
    out->policy_server = std::move(*p);
  }

  if (bound.metrics) {
    HttpOptions ho;
    ho.log = [log](std::string_view w) { log->warn("{}", text::log_safe(w)); };
    ho.allow_clients = cfg.get_list("metrics.allow_clients");
    ho.bound = bound.metrics;
    auto h = HttpEndpoint::start(cfg.get_string("metrics.listen"),
                                 {[&eng] { return eng.metrics().render(); },
                                  [&eng] { return eng.healthy(); }},
                                 ho);
    if (!h) return unexpected<Error>(h.error());
    out->http = std::move(*h);
  }
  if (bound.web) {
    auto w = DnsblWeb::start(cfg, eng.store(), eng.clock(), &eng.metrics(), bound.web,
                             [log](std::string_view line) { log->info("{}", text::log_safe(line)); });
    if (!w) return unexpected<Error>(w.error());
    out->web = std::move(*w);
  }
  return out;
}

// ---------------------------------------------------------------------------

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit
// in force afterwards.
rlim_t raise_nofile_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    rlimit want = r;
    want.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) return want.rlim_cur;
  }
  return r.rlim_cur;
}

void log_purge(const PurgeReport& r, spdlog::logger& log) {
  log.info("purged expired items: state {}, counters {}, facts {}, trap listings {}", r.state, r.counters, r.facts,
           r.listings);
  for (const auto& e : r.errors) log.warn("purge: {}", e);
}

// A reload slower than this is logged as a warning: it holds up the main
// thread's log flushing and purge, though not the mail.
constexpr double kSlowReloadSeconds = 5.0;

// Applies a configuration read on SIGHUP; `running` is the one serve started
// with, whose listener, state and log settings stay.
void reload(const ServeOptions& o, const config::Config& running, Engine& eng, spdlog::logger& log) {
  const auto t0 = std::chrono::steady_clock::now();
  auto fresh = o.load_config();
  Status st = fresh ? eng.reload(*fresh) : Status(unexpected<Error>(fresh.error()));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!st) {
    log.error("reload refused, keeping the running configuration: {}", st.error().message());
    return;
  }
  for (const char* prefix : {"daemon.", "milter.", "policy.", "metrics.", "state.", "redis.", "dnsbl.",
                             "log."}) {
    if (keys_with_prefix(*fresh, prefix) != keys_with_prefix(running, prefix)) {
      log.warn("reload: {}* settings take effect only on restart", prefix);
    }
  }
  // Mail is judged under the running snapshot meanwhile; a slow reload is
  // almost always a rules file whose patterns are costly to compile.
  if (secs >= kSlowReloadSeconds) {
    log.warn("reload took {:.1f} s (classify.rules_file patterns with long repeats or wide alternations "
             "are slow to compile; `backstop config check` times them)", secs);
  }
  log.info("reloaded configuration and BATV keys from {} in {:.2f} s", fresh->source(), secs);
}

}  // namespace

int run_main_loop(const MainLoop& loop) {
  auto next_purge = loop.now() + loop.purge_interval;
  for (;;) {
    int sig = loop.wait(loop.wake);
    loop.flush();
    if (sig == SIGHUP) {
      loop.reload();
      continue;
    }
    if (sig == SIGTERM || sig == SIGINT) return sig;
    if (loop.now() >= next_purge) {
      next_purge = loop.now() + loop.purge_interval;
      loop.purge();
    }
  }
}

Result<int> serve(const ServeOptions& o) {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // inherited by every thread started below
  signal(SIGPIPE, SIG_IGN);
  // Each milter connection is a descriptor; the default soft limit (1024)
  // is below the connection caps. Take what the hard limit allows.
  const rlim_t nofile = raise_nofile_limit();

  auto cfg = o.load_config();
  if (!cfg) return unexpected<Error>(cfg.error());
  // Who to serve as, decided before anything is opened: a root start without
  // daemon.run_as is refused here (daemon/privileges.h).
  auto account = run_as_account(*cfg);
  if (!account) return unexpected<Error>(account.error());
  auto action = decide_privileges(current_identity(), *account);
  if (!action) return unexpected<Error>(action.error());
  auto logger = make_logger(*cfg);
  if (!logger) return unexpected<Error>(logger.error());
  const std::shared_ptr<spdlog::logger>& log = *logger;
  auto bound = bind_listeners(*cfg);
  if (!bound) return unexpected<Error>(bound.error());
  if (*action == PrivilegeAction::kDrop) {
    const Account& a = **account;
    auto sockets = give_sockets(bound->unix_paths(), a);
    if (!sockets) return unexpected<Error>(sockets.error());
    for (const auto& line : *sockets) log->info("socket {}", text::log_safe(line));
    auto state = give_state(*cfg, a);
    if (!state) return unexpected<Error>(state.error());
    for (const auto& line : state->changed) log->info("state {}", text::log_safe(line));
    for (const auto& line : state->left) log->warn("state {}", text::log_safe(line));
    BACKSTOP_TRY(drop_privileges(a));
    log->info("dropped root: running as {} (uid {}, gid {}, {} groups)", text::log_safe(a.user), a.uid, a.gid,
              a.groups.size());
  }
  // From here on as the user serve runs as (dropped to, or started as): the
  // store's files are created as it, and threads start only now.
  EngineOptions eo;
  eo.log = [log](const std::string& line) { log->error("{}", text::log_safe(line)); };
  auto engine = Engine::create(*cfg, std::move(eo));
  if (!engine) return unexpected<Error>(engine.error());
  Engine& eng = **engine;
  auto dnsbl = DnsblService::start(*cfg, &eng.metrics(), &eng.clock());
  if (!dnsbl) return unexpected<Error>(dnsbl.error());
  auto listeners = open_listeners(*cfg, *bound, eng, dnsbl->get(), log);
  if (!listeners) return unexpected<Error>(listeners.error());
  Listeners& net = **listeners;

  net.start();
  const auto& metrics_listen = cfg->get_string("metrics.listen");
  log->info("backstop {} serving: milter {}, policy {}, metrics {}, dnsbl web {}, state {} ({})", BACKSTOP_VERSION,
            net.milter_server ? net.milter_server->endpoints().front() : std::string("off"),
            net.policy_server ? net.policy_server->endpoints().front() : std::string("off"),
            metrics_listen.empty() ? std::string("off") : metrics_listen,
            net.web ? net.web->endpoint() : std::string("off"), describe_state(*cfg), cfg->source());
  log->info("file descriptor limit {}", static_cast<unsigned long long>(nofile));

  MainLoop loop;
  loop.wait = [&sigs](std::chrono::milliseconds timeout) {
    timespec ts{static_cast<time_t>(timeout.count() / 1000), static_cast<long>(timeout.count() % 1000) * 1'000'000L};
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    return sig > 0 ? sig : 0;
  };
  const std::int64_t flush_ms = cfg->get_int("log.flush_ms");
  loop.wake = flush_ms > 0 ? std::min(std::chrono::milliseconds(flush_ms), kMaxWake) : kMaxWake;
  loop.flush = [&log] { log->flush(); };
  loop.reload = [&] { reload(o, *cfg, eng, *log); };
  loop.purge = [&] { log_purge(purge_expired(eng), *log); };
  int sig = run_main_loop(loop);
  log->info("signal {}: draining", sig);

  // Commits that failed while serving were logged, counted and answered
  // (451) as they happened, and may be long past (a disk that was full):
  // forget them, so that what the flushes below report, and the exit status,
  // are the writes that fail at shutdown.
  (void)eng.facts_writer().flush();
  (void)eng.writer().flush();
  net.stop();
  int rc = 0;
  eng.worker().stop();  // its last tasks may still write
  if (auto st = eng.facts_writer().flush(); !st) {
    log->warn("inbound facts writes failed at shutdown: {}", st.error().message());
  }
  if (auto st = eng.writer().flush(); !st) {
    log->error("store writes failed at shutdown: {}", st.error().message());
    rc = 1;
  }
  log->info("stopped");
  log->flush();
  return rc;
}

PurgeReport purge_expired(Engine& eng) {
  PurgeReport r;
  auto one = [&r](store::Store& st, std::string_view name, std::size_t& count) {
    auto n = st.purge_expired();
    if (n) {
      count = *n;
    } else {
      r.errors.push_back(std::string(name) + ": " + n.error().message());
    }
  };
  one(eng.store(), "state", r.state);
  // The soft-state environments expire too (the same store when in memory).
  if (&eng.counters() != &eng.store()) one(eng.counters(), "counters", r.counters);
  if (&eng.facts() != &eng.store()) one(eng.facts(), "facts", r.facts);
  const auto snap = eng.snapshot();
  dnsbl::Listings listings(eng.store(), eng.clock(), dnsbl::listing_policy(snap->cfg));
  if (auto l = listings.purge(snap->cfg.get_int("trap.retention_days")); l) {
    r.listings = *l;
  } else {
    r.errors.push_back("trap listings: " + l.error().message());
  }
  return r;
}

}  // namespace backstop::daemon
