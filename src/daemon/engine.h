// The serving engine: everything `backstop serve` and `backstop check` build
// from the configuration. Long-lived parts (store, batch writer, metrics,
// clock) live as long as the Engine; config-derived parts (rules, keys,
// correlator, policy table, settings) form an immutable Snapshot that a
// reload replaces atomically, so a message in flight keeps the snapshot it
// started with and no connection is dropped.
// Thread-safety: snapshot() and reload() may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

#include "batv/batv.h"
#include "classify/classifier.h"
#include "common/clock.h"
#include "common/ip.h"
#include "common/worker.h"
#include "common/result.h"
#include "config/config.h"
#include "correlate/correlate.h"
#include "daemon/judge.h"
#include "daemon/metrics.h"
#include "daemon/notifier.h"
#include "daemon/state.h"
#include "dnsbl/listings.h"
#include "outbound/limits.h"
#include "policy/policy.h"
#include "store/batch_writer.h"
#include "store/store.h"

namespace backstop::dnsbl {
class Redactor;
}

namespace backstop::daemon {

enum class BatvMode { kEnforce, kTag, kOff };

// TagVerifier over a KeyRing and the clock.
class KeyRingVerifier final : public correlate::TagVerifier {
 public:
  KeyRingVerifier(const batv::KeyRing* keys, const Clock* clock, int lifetime)
      : keys_(keys), clock_(clock), lifetime_(lifetime) {}
  correlate::TagStatus verify(std::string_view rcpt) const override;

 private:
  const batv::KeyRing* keys_;
  const Clock* clock_;
  int lifetime_;
};

// The autoreply gate's configuration (autoreply.*). Engine::build sets every
// field from the configuration; the defaults are config/keys.cc's alone, so
// the initialisers here are only zero or off.
struct GateSettings {
  enum class Mode { kEnforce, kLog, kOff };
  enum class Refuse { kReject, kDiscard, kHold };
  Mode mode = Mode::kOff;
  std::int64_t enforce_from = 0;  // unix time the ledger warm-up ends (log only before)
  std::int64_t period = 0;        // seconds: autoreply.period_days
  std::vector<std::string> any_sender;   // our domains (lower-case)
  bool challenge_allowed = false;
  std::vector<ip::Network> list_networks;
  std::vector<std::string> list_names;   // SASL users and "@domain" (lower-case)
  Refuse refuse = Refuse::kReject;
  std::int64_t facts_ttl = 0;  // seconds: autoreply.facts_ttl_days
};

// Everything derived from one configuration. Immutable once built. As in
// GateSettings, Engine::build sets every field; the defaults are the key
// table's (config/keys.cc), never repeated here.
struct Snapshot {
  config::Config cfg;
  std::shared_ptr<const classify::Rules> rules;
  std::unique_ptr<classify::Classifier> classifier;
  batv::KeyRing keys;
  batv::SignerConfig signer;
  std::unique_ptr<KeyRingVerifier> verifier;
  std::unique_ptr<correlate::Correlator> correlator;
  policy::Table table;
  std::unique_ptr<Judge> judge;

  BatvMode batv_mode = BatvMode::kOff;
  bool batv_sign = false;
  std::int64_t batv_enforce_from = 0;  // unix time the grace period ends
  std::vector<std::string> daemon_names;
  std::vector<ip::Network> outbound_networks;
  std::vector<std::string> trap_addresses;  // lower-case
  std::vector<std::string> trap_domains;    // lower-case
  bool trap_discard = false;
  // Evidence of trap hits (dnsbl/evidence.h): trap addresses and domains
  // redacted, kept as long as trap_policy and trap_retention_days say.
  std::shared_ptr<const dnsbl::Redactor> trap_redactor;
  dnsbl::ListingPolicy trap_policy;
  std::int64_t trap_retention_days = 0;
  bool fail_open = false;
  std::size_t max_body = 0;     // bytes: classify.max_body
  std::int64_t ledger_ttl = 0;  // seconds: ledger.ttl_days
  std::string tag_header;
  std::unique_ptr<outbound::Limiter> limiter;  // null: no limits.rule
  std::string limits_notify;
  std::string limits_sendmail;
  GateSettings gate;

  bool is_trap(std::string_view address) const;
  bool is_outbound_ip(std::string_view ip) const;
};

struct EngineOptions {
  bool create_keys = true;       // generate the BATV key file when absent (serve)
  bool memory_store = false;     // force the in-memory store (tests, check without state)
  const Clock* clock = nullptr;  // null = system clock
  // A store to use instead of opening one (tests: a failing store).
  std::unique_ptr<store::Store> store;
  // Failures of background work (notice mails, failed store commits, logged
  // as they happen). May be empty.
  std::function<void(const std::string&)> log;
  // Tests only: the fault-injection seam of every snapshot's Judge (see
  // ClassifyHook). Empty in serve and check.
  ClassifyHook classify_hook;
  // Threads that judge inbound mail off the event loops (judge_worker());
  // nullopt: kRemoteJudgeThreads when the store is remote (state.backend =
  // "redis"), none for LMDB and memory, whose reads take microseconds.
  std::optional<std::size_t> judge_threads;
  // Threads of the outbound worker (limits, the autoreply gate's reads);
  // nullopt: kRemoteOutboundThreads with a remote store, else one (LMDB
  // answers in microseconds, and one thread keeps its write transactions
  // from queueing behind each other).
  std::optional<std::size_t> outbound_threads;
};

// Inbound messages judged at once off the event loops with a remote store
// (the milter threads read on their own connections, store/redis_loop.h:
// these threads connect them, and read for a milter thread while it has
// none, at the start and after a failure): each waits on a round trip or
// two per message, so eight keep a LAN Redis busy at thousands of messages
// a second while leaving most of the store's connections
// (kDefaultRedisConnections) to the writers and the milter threads.
inline constexpr std::size_t kRemoteJudgeThreads = 8;
// Outbound messages limited at once with a remote store: a limit check is
// one script round trip, and Redis fsyncs the scripts of all the threads
// waiting at once together (appendfsync always), so a few threads multiply
// the rate one thread gets. Judges, these and the two store writers use
// kDefaultRedisConnections (16) between them.
inline constexpr std::size_t kRemoteOutboundThreads = 6;

class Engine {
 public:
  // Opens the store state.backend names (daemon/state.h) and builds the
  // first snapshot. kEnvironment / kPermission / kInvalidArgument with a
  // message naming the file or key; kUnavailable when Redis is unreachable.
  static Result<std::unique_ptr<Engine>> create(const config::Config& cfg, EngineOptions opts = {});
  ~Engine();

  std::shared_ptr<const Snapshot> snapshot() const;
  // Builds a snapshot from `cfg` (re-reading rules and keys); on success it
  // replaces the current one. On error the running snapshot stays.
  Status reload(const config::Config& cfg);

  store::Store& store() { return *store_; }
  // Soft state: outbound rate counters and the once-per-period autoreply
  // counter (LMDB: state.dir/counters, not fsynced; Redis: under
  // <redis.prefix>counters:); the main store when in memory.
  store::Store& counters() { return counters_ ? *counters_ : *store_; }
  // Soft state: the autoreply gate's facts about inbound mail (LMDB:
  // state.dir/facts, not fsynced, its own map bound; Redis: under
  // <redis.prefix>facts:); the main store when in memory.
  store::Store& facts() { return facts_ ? *facts_ : *store_; }
  store::BatchWriter& writer() { return *writer_; }
  // Batched writes to facts(): written for every inbound message, so they
  // must cost neither a transaction on the event loop nor an fsync. Writes
  // linger up to kSoftWriteLinger before their commit; a reader that misses
  // calls flush().
  store::BatchWriter& facts_writer() { return facts_writer_ ? *facts_writer_ : *writer_; }
  // Runs the outbound limits and the autoreply gate's store work off the
  // event loops (thread bs-outbound); tasks answer the MTA themselves.
  common::Worker& worker() { return *worker_; }
  // With a remote store (threads bs-judge-N): judges inbound mail whose
  // event loop has no store reads of its own (daemon::set_thread_loop_reads),
  // and connects those, so that no event loop waits on a network round
  // trip; null when inbound mail is judged on the event loop (LMDB, memory).
  common::Worker* judge_worker() { return judge_worker_.get(); }
  Metrics& metrics() { return metrics_; }
  // /healthz: the store answers a read, and the state writer has no failed
  // commit since its last successful one. With Redis the read is a round
  // trip on the caller's thread (the HTTP endpoint's own loop), at most
  // redis.timeout_ms; while Redis is down it fails at once (back-off).
  bool healthy();
  const Clock& clock() const { return *clock_; }
  Notifier& notifier() { return *notifier_; }

 private:
  Engine() = default;
  Result<std::shared_ptr<const Snapshot>> build(const config::Config& cfg) const;
  // Records in the store that this state signs with the configured key file.
  Status note_key_file(const config::Config& cfg);

  bool create_keys_ = true;
  const Clock* clock_ = nullptr;
  ClassifyHook classify_hook_;
  // Before the stores, writers and workers: they count into it (failed
  // commits, Redis round trips) until they are gone.
  Metrics metrics_;
  std::unique_ptr<store::RemoteObserver> remote_observer_;  // feeds metrics_ from the Redis client
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::Store> counters_;  // null: counters live in store_
  std::unique_ptr<store::BatchWriter> writer_;
  std::unique_ptr<store::Store> facts_;     // null: facts live in store_
  std::unique_ptr<store::BatchWriter> facts_writer_;  // null: facts go through writer_
  std::unique_ptr<common::Worker> worker_;  // stopped first in ~Engine: its tasks use the rest
  std::unique_ptr<common::Worker> judge_worker_;  // likewise; null: judged on the event loops
  std::unique_ptr<Notifier> notifier_;
  std::int64_t first_start_ = 0;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> current_;
};

// Resolves batv.key_file ("" = <state.dir>/batv.keys).
std::string key_file_path(const config::Config& cfg);

// kCountersDir, kFactsDir and kSoftStateDirs: daemon/state.h.

}  // namespace backstop::daemon
