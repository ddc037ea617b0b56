// backstop serve: the milter and the Postfix policy service.
//
// Signals: SIGHUP re-reads the configuration file and the BATV keys (a file
// with errors is refused and the running configuration stays); SIGTERM and
// SIGINT drain (current messages finish, new connections are refused) and
// exit. Signals are blocked in every thread and taken by sigtimedwait() on
// the main thread, which also purges expired store items hourly.
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include <asio.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "app/commands.h"
#include "app/common_options.h"
#include "common/thread_name.h"
#include "daemon/engine.h"
#include "daemon/http.h"
#include "daemon/milter_filter.h"
#include "daemon/policy_handler.h"
#include "milter/server.h"
#include "policyd/server.h"

namespace backstop::app {
namespace {

// Expired ledger entries, counters and records are removed this often.
constexpr std::chrono::seconds kPurgeInterval{3600};
// stdio buffer for a buffered stderr log: ~200 decision lines between flushes.
constexpr std::size_t kStderrBuffer = 64 * 1024;

struct ServeOptions {
  SharedOptions shared;
};

std::shared_ptr<spdlog::logger> make_logger(const config::Config& cfg) {
  const auto& target = cfg.get_string("log.target");
  std::shared_ptr<spdlog::logger> log;
  if (target == "stderr") {
    log = std::make_shared<spdlog::logger>("backstop", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  } else if (target == "syslog") {
    log = std::make_shared<spdlog::logger>(
        "backstop", std::make_shared<spdlog::sinks::syslog_sink_mt>("backstop", LOG_PID, LOG_MAIL, false));
  } else {
    log = std::make_shared<spdlog::logger>("backstop",
                                           std::make_shared<spdlog::sinks::basic_file_sink_mt>(target));
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
  std::string dump = c.dump();
  std::size_t pos = 0;
  while (pos < dump.size()) {
    auto nl = dump.find('\n', pos);
    std::string_view line(dump.data() + pos, (nl == std::string::npos ? dump.size() : nl) - pos);
    if (line.starts_with(prefix)) out.append(line).push_back('\n');
    pos = nl == std::string::npos ? dump.size() : nl + 1;
  }
  return out;
}

int run_serve(const ServeOptions& o) {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // inherited by every thread started below
  signal(SIGPIPE, SIG_IGN);

  auto cfg = load_config(o.shared);
  if (!cfg) return report_error(cfg.error());
  std::shared_ptr<spdlog::logger> log;
  try {
    log = make_logger(*cfg);
  } catch (const spdlog::spdlog_ex& e) {
    return report_error(Error(Code::kEnvironment, std::string("log.target: ") + e.what()));
  }
  auto engine = daemon::Engine::create(*cfg);
  if (!engine) return report_error(engine.error());
  daemon::Engine& eng = **engine;

  auto dnsbl = daemon::DnsblService::start(*cfg, &eng.metrics(), &eng.clock());
  if (!dnsbl) return report_error(dnsbl.error());
  daemon::BackstopFilter filter(&eng, [log](std::string_view line) { log->info("{}", line); },
                                dnsbl->get());
  std::unique_ptr<milter::Server> milter_server;
  const auto& milter_listen = cfg->get_string("milter.listen");
  if (!milter_listen.empty()) {
    milter::ServerOptions so;
    so.listen = {milter_listen};
    so.threads = static_cast<unsigned>(cfg->get_int("milter.threads"));
    so.unix_mode = static_cast<unsigned>(std::stoul(cfg->get_string("milter.socket_mode"), nullptr, 8));
    so.session.max_body = static_cast<std::size_t>(cfg->get_int("classify.max_body"));
    so.log = [log](std::string_view w) { log->warn("milter: {}", w); };
    auto s = milter::Server::create(filter, so);
    if (!s) return report_error(Error(s.error().code(), "milter.listen: " + s.error().message()));
    milter_server = std::move(*s);
  }

  daemon::PolicyHandler policy_handler(&eng, [log](std::string_view line) { log->info("{}", line); },
                                       dnsbl->get());
  std::unique_ptr<policyd::Server> policy_server;
  const auto& policy_listen = cfg->get_string("policy.listen");
  if (!policy_listen.empty()) {
    policyd::ServerOptions po;
    po.listen = {policy_listen};
    po.threads = 1;  // policy requests are tiny; one loop serves thousands per second
    po.unix_mode = static_cast<unsigned>(std::stoul(cfg->get_string("milter.socket_mode"), nullptr, 8));
    po.log = [log](std::string_view w) { log->warn("policy: {}", w); };
    auto p = policyd::Server::create(policy_handler, po);
    if (!p) return report_error(Error(p.error().code(), "policy.listen: " + p.error().message()));
    policy_server = std::move(*p);
  }

  asio::io_context http_io;
  std::unique_ptr<daemon::HttpEndpoint> http;
  const auto& metrics_listen = cfg->get_string("metrics.listen");
  if (!metrics_listen.empty()) {
    auto h = daemon::HttpEndpoint::start(
        http_io, metrics_listen,
        {[&eng] { return eng.metrics().render(); },
         [&eng] { return eng.store().counter_get("health").has_value(); }});
    if (!h) return report_error(h.error());
    http = std::move(*h);
  }
  auto http_guard = asio::make_work_guard(http_io);
  std::thread http_thread([&http_io] {
    common::set_thread_name("bs-http");
    http_io.run();
  });

  if (milter_server) milter_server->start();
  if (policy_server) policy_server->start();
  log->info("backstop {} serving: milter {}, policy {}, metrics {}, state {} ({})", BACKSTOP_VERSION,
            milter_server ? milter_server->endpoints().front() : std::string("off"),
            policy_server ? policy_server->endpoints().front() : std::string("off"),
            metrics_listen.empty() ? std::string("off") : metrics_listen, cfg->get_string("state.dir"),
            cfg->source());

  auto next_purge = std::chrono::steady_clock::now() + kPurgeInterval;
  int rc = 0;
  // The loop wakes at least this often: the buffered log is written out then.
  const std::int64_t flush_ms = cfg->get_int("log.flush_ms");
  const std::int64_t wake_ms = flush_ms > 0 ? std::min<std::int64_t>(flush_ms, 60'000) : 60'000;
  for (;;) {
    timespec ts{static_cast<time_t>(wake_ms / 1000), static_cast<long>(wake_ms % 1000) * 1'000'000L};
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    log->flush();
    if (sig == SIGHUP) {
      auto fresh = load_config(o.shared);
      Status st = fresh ? eng.reload(*fresh) : Status(unexpected<Error>(fresh.error()));
      if (!st) {
        log->error("reload refused, keeping the running configuration: {}", st.error().message());
      } else {
        for (const char* prefix : {"milter.", "policy.", "metrics.", "state.", "dnsbl.", "log."}) {
          if (keys_with_prefix(*fresh, prefix) != keys_with_prefix(*cfg, prefix)) {
            log->warn("reload: {}* settings take effect only on restart", prefix);
          }
        }
        log->info("reloaded configuration and BATV keys from {}", fresh->source());
      }
      continue;
    }
    if (sig == SIGTERM || sig == SIGINT) {
      log->info("signal {}: draining", sig);
      break;
    }
    if (std::chrono::steady_clock::now() >= next_purge) {
      next_purge = std::chrono::steady_clock::now() + kPurgeInterval;
      auto n = eng.store().purge_expired();
      if (n) {
        log->info("purged {} expired store items", *n);
      } else {
        log->warn("purge failed: {}", n.error().message());
      }
      if (&eng.counters() != &eng.store()) {  // the soft-state environment expires too
        auto c = eng.counters().purge_expired();
        if (c) {
          log->info("purged {} expired soft-state items", *c);
        } else {
          log->warn("soft-state purge failed: {}", c.error().message());
        }
      }
    }
  }
  if (milter_server) {
    milter_server->stop();
    milter_server->wait();
  }
  if (policy_server) {
    policy_server->stop();
    policy_server->wait();
  }
  if (http) http->stop();
  http_guard.reset();
  http_io.stop();
  http_thread.join();
  if (auto st = eng.soft_writer().flush(); !st) {
    log->warn("soft-state writes failed at shutdown: {}", st.error().message());
  }
  if (auto st = eng.writer().flush(); !st) {
    log->error("store writes failed at shutdown: {}", st.error().message());
    rc = 1;
  }
  log->info("stopped");
  log->flush();
  return rc;
}

}  // namespace

void add_serve(CLI::App& root, int* exit_code) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = root.add_subcommand("serve", "Run the milter and policy service (the main job)");
  add_shared_options(cmd, &o->shared);
  cmd->callback([o, exit_code] { *exit_code = run_serve(*o); });
}

}  // namespace backstop::app
