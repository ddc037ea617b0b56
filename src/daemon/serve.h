// The lifecycle of `backstop serve`: build the engine and the listeners,
// serve until told to stop, then stop in order.
//
// Start order, all on the calling thread until the store is open: read the
// configuration; decide who to serve as (daemon.run_as; a root start without
// it is refused); open the log; bind every listener; started as root, give
// the unix socket files and the state to daemon.run_as and drop root for good
// (daemon/privileges.h). Only then, as that user, open the store and the
// BATV keys and start the threads (writers, DNSBL, servers, HTTP). A reload
// runs as that user too and never binds: listener changes wait for a restart.
//
// Signals: SIGHUP re-reads the configuration file and the BATV keys (a file
// with errors is refused and the running configuration stays); SIGTERM and
// SIGINT drain (current messages finish, new connections are refused) and
// exit. Signals are blocked in every thread and taken by sigtimedwait() on
// the calling thread, which also purges expired store items every
// kPurgeInterval and writes out the buffered log at least every
// log.flush_ms (at most a minute).
//
// Shutdown order: the milter server drains, then the policy server, then the
// HTTP endpoint stops; then the soft-state and the store writers flush; the
// log is flushed last.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace backstop::daemon {

// Expired ledger entries, counters and records are removed this often.
inline constexpr std::chrono::seconds kPurgeInterval{3600};
// The main loop wakes at least this often, whatever log.flush_ms says.
inline constexpr std::chrono::milliseconds kMaxWake{60'000};

struct ServeOptions {
  // The configuration: called once at start and again on every SIGHUP.
  std::function<Result<config::Config>()> load_config;
};

// Serves until SIGTERM or SIGINT. Blocks SIGHUP, SIGTERM and SIGINT in the
// calling thread (and so in every thread it starts) and ignores SIGPIPE:
// call it before any other thread is started. Errors are startup failures
// (configuration, privileges, log target, store, DNSBL, listen addresses);
// nothing is left running then. Otherwise the value is the exit status: 0, or 1 when
// store writes failed at shutdown.
Result<int> serve(const ServeOptions& o);

class Engine;

// What the hourly purge removed, and what failed (one line each).
struct PurgeReport {
  std::size_t state = 0, counters = 0, facts = 0, listings = 0;
  std::vector<std::string> errors;
};
// The hourly purge of serve(): expired items in every store environment, and
// trap listings trap.retention_days after they expired (with their
// evidence). Runs on the main thread, never an event loop; each store
// transaction is bounded (store::kPurgeChunk, one listing at a time).
PurgeReport purge_expired(Engine& eng);

// The main loop of serve(), apart from signals and time so that it can be
// tested. Each wake-up calls `flush`; then SIGHUP calls `reload`, SIGTERM or
// SIGINT end the loop, and any other wake-up calls `purge` if
// `purge_interval` has passed since the loop started or since the last purge.
struct MainLoop {
  // Waits at most `timeout` for a signal; returns its number, or 0 if none came.
  std::function<int(std::chrono::milliseconds timeout)> wait;
  std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
  std::chrono::milliseconds wake = kMaxWake;
  std::chrono::steady_clock::duration purge_interval = kPurgeInterval;
  std::function<void()> flush;
  std::function<void()> reload;
  std::function<void()> purge;
};

// Runs `loop` until SIGTERM or SIGINT; returns that signal's number.
int run_main_loop(const MainLoop& loop);

}  // namespace backstop::daemon
