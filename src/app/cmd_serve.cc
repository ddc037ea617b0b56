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
#include <chrono>
#include <cstdio>
#include <thread>

#include "app/commands.h"
#include "app/common_options.h"
#include "daemon/engine.h"
#include "daemon/http.h"
#include "daemon/milter_filter.h"
#include "milter/server.h"

namespace backstop::app {
namespace {

// Expired ledger entries, counters and records are removed this often.
constexpr std::chrono::seconds kPurgeInterval{3600};

struct ServeOptions {
  std::string config;
  std::string state;
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
  log->flush_on(spdlog::level::info);
  return log;
}

int run_serve(const ServeOptions& o) {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // inherited by every thread started below
  signal(SIGPIPE, SIG_IGN);

  auto cfg = load_config(o.config, o.state);
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

  daemon::BackstopFilter filter(&eng, [log](std::string_view line) { log->info("{}", line); });
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
  std::thread http_thread([&http_io] { http_io.run(); });

  if (milter_server) milter_server->start();
  log->info("backstop {} serving: milter {}, metrics {}, state {} ({})", BACKSTOP_VERSION,
            milter_server ? milter_server->endpoints().front() : std::string("off"),
            metrics_listen.empty() ? std::string("off") : metrics_listen, cfg->get_string("state.dir"),
            cfg->source());

  auto next_purge = std::chrono::steady_clock::now() + kPurgeInterval;
  int rc = 0;
  for (;;) {
    timespec ts{60, 0};
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    if (sig == SIGHUP) {
      auto fresh = load_config(o.config, o.state);
      Status st = fresh ? eng.reload(*fresh) : Status(unexpected<Error>(fresh.error()));
      if (!st) {
        log->error("reload refused, keeping the running configuration: {}", st.error().message());
      } else {
        if (fresh->get_string("milter.listen") != milter_listen ||
            fresh->get_string("metrics.listen") != metrics_listen) {
          log->warn("reload: listen addresses change only on restart");
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
    }
  }
  if (milter_server) {
    milter_server->stop();
    milter_server->wait();
  }
  if (http) http->stop();
  http_guard.reset();
  http_io.stop();
  http_thread.join();
  if (auto st = eng.writer().flush(); !st) {
    log->error("store writes failed at shutdown: {}", st.error().message());
    rc = 1;
  }
  log->info("stopped");
  return rc;
}

}  // namespace

void add_serve(CLI::App& root, int* exit_code) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = root.add_subcommand("serve", "Run the milter and policy service (the main job)");
  cmd->add_option("-c,--config", o->config,
                  "Configuration file (default: /etc/backstop/backstop.toml if present, else the "
                  "embedded defaults)");
  cmd->add_option("--state", o->state, "State directory; overrides state.dir");
  cmd->callback([o, exit_code] { *exit_code = run_serve(*o); });
}

}  // namespace backstop::app
