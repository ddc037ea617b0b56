#include "daemon/engine.h"

#include "dnsbl/evidence.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>

#include "batv/key_file.h"
#include "common/random.h"
#include "daemon/state.h"
#include "mail/header.h"

namespace backstop::daemon {
namespace {

constexpr std::int64_t kDay = 86400;
// Store record holding the unix time backstop first served (BATV grace period).
constexpr std::string_view kFirstStartKey = "serve:first_start";
// The BATV key file this state has signed with: once set, a missing key file
// is an error at start, never silently replaced (every outstanding tag would
// then fail).
constexpr std::string_view kKeyFileInUseKey = "batv:key_file";
// How long soft-state writes gather before one commit: a trickle of inbound
// messages then costs a transaction per 50 ms, not one per message. Readers
// (the autoreply gate) flush on a miss, so nothing waits for it.
constexpr std::chrono::milliseconds kSoftWriteLinger{50};

std::vector<std::string> lowered(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& s : in) out.push_back(mail::ascii_lower(mail::trim(s)));
  return out;
}

}  // namespace

correlate::TagStatus KeyRingVerifier::verify(std::string_view rcpt) const {
  if (keys_->empty()) return correlate::TagStatus::kNone;
  auto v = batv::verify(*keys_, rcpt, clock_->unix_day(), {lifetime_, 0});
  switch (v.verdict) {
    case batv::Verdict::kValid: return correlate::TagStatus::kValid;
    case batv::Verdict::kExpired: return correlate::TagStatus::kExpired;
    case batv::Verdict::kBadHash:
    case batv::Verdict::kUnknownKey: return correlate::TagStatus::kInvalid;
    case batv::Verdict::kNotTagged:
    case batv::Verdict::kForeignForm:
    case batv::Verdict::kMalformed: return correlate::TagStatus::kNone;
  }
  return correlate::TagStatus::kNone;
}

bool Snapshot::is_trap(std::string_view address) const {
  std::string a = mail::ascii_lower(address);
  for (const auto& t : trap_addresses) {
    if (t == a) return true;
  }
  auto at = a.rfind('@');
  if (at == std::string::npos) return false;
  std::string_view domain = std::string_view(a).substr(at + 1);
  for (const auto& d : trap_domains) {
    if (d == domain) return true;
  }
  return false;
}

bool Snapshot::is_outbound_ip(std::string_view text) const {
  auto a = ip::parse(text);
  if (!a) return false;
  for (const auto& n : outbound_networks) {
    if (ip::contains(n, *a)) return true;
  }
  return false;
}

std::string key_file_path(const config::Config& cfg) {
  const auto& f = cfg.get_string("batv.key_file");
  return f.empty() ? cfg.get_string("state.dir") + "/batv.keys" : f;
}

namespace {

// The Redis client's round trips and connection attempts as metrics.
class MetricsObserver final : public store::RemoteObserver {
 public:
  explicit MetricsObserver(Metrics& m) : m_(m) {}
  void round_trip(std::size_t commands, double seconds, Result result) noexcept override {
    m_.redis_round_trip(commands, seconds,
                        result == Result::kOk           ? "ok"
                        : result == Result::kErrorReply ? "error_reply"
                                                        : "failed");
  }
  void connect_attempt(bool ok) noexcept override { m_.redis_connect(ok); }

 private:
  Metrics& m_;
};

}  // namespace

Result<std::unique_ptr<Engine>> Engine::create(const config::Config& cfg, EngineOptions opts) {
  std::unique_ptr<Engine> e(new Engine());
  e->create_keys_ = opts.create_keys;
  e->classify_hook_ = std::move(opts.classify_hook);
  e->clock_ = opts.clock ? opts.clock : &system_clock();
  e->remote_observer_ = std::make_unique<MetricsObserver>(e->metrics_);
  store::Options so = store_options(cfg, e->clock_);
  so.remote_observer = e->remote_observer_.get();
  if (opts.store) {
    e->store_ = std::move(opts.store);
  } else if (opts.memory_store) {
    e->store_ = store::make_memory_store(so);
  } else {
    // state.backend: LMDB in state.dir (the counters and facts in their own
    // environments beside it), Redis (under their own prefixes) or memory.
    auto st = open_state(cfg, so, StateScope::kWithSoft);
    BACKSTOP_TRY(st);
    e->store_ = std::move(st->main);
    e->counters_ = std::move(st->counters);
    e->facts_ = std::move(st->facts);
  }
  // The first start time anchors the BATV grace period.
  auto first = e->store_->record_get(kFirstStartKey);
  if (!first) return fail(first.error().code(), "store: " + first.error().message());
  if (*first) {
    // A damaged record is an error naming it, not an exception at start.
    const std::string& text = **first;
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size() || v < 0) {
      return fail(Code::kEnvironment, "store record " + std::string(kFirstStartKey) + " is damaged ('" +
                                        text.substr(0, 40) + "'); remove it with the store tools or restore the state");
    }
    e->first_start_ = v;
  } else {
    e->first_start_ = e->clock_->now_unix();
    BACKSTOP_TRY(e->store_->record_put(kFirstStartKey, std::to_string(e->first_start_), 0));
  }
  // Every failed commit is counted and logged at once, not only at shutdown.
  auto on_failure = [m = &e->metrics_, log = opts.log](std::string_view which) {
    return [m, log, which](const Error& err, std::size_t ops, bool retrying) {
      m->store_write_failure(which);
      if (log) {
        log("store (" + std::string(which) + ") commit of " + std::to_string(ops) + " writes failed: " +
            err.message() + (retrying ? "; retrying" : "; giving up on this batch"));
      }
    };
  };
  e->writer_ = std::make_unique<store::BatchWriter>(*e->store_, std::chrono::milliseconds{0}, "bs-writer",
                                                    on_failure("state"));
  if (e->facts_) {
    e->facts_writer_ = std::make_unique<store::BatchWriter>(*e->facts_, kSoftWriteLinger, "bs-facts-writer",
                                                            on_failure("facts"));
  }
  const bool remote = !opts.store && !opts.memory_store && cfg.get_string("state.backend") == "redis";
  e->worker_ = std::make_unique<common::Worker>("bs-outbound", common::kMaxQueuedTasks,
                                                opts.outbound_threads.value_or(remote ? kRemoteOutboundThreads : 1));
  const std::size_t judges = opts.judge_threads.value_or(remote ? kRemoteJudgeThreads : 0);
  if (judges > 0) {
    e->judge_worker_ = std::make_unique<common::Worker>("bs-judge", common::kMaxQueuedTasks, judges);
  }
  e->notifier_ = std::make_unique<Notifier>(opts.log);
  auto snap = e->build(cfg);
  BACKSTOP_TRY(snap);
  e->current_ = std::move(*snap);
  BACKSTOP_TRY(e->note_key_file(cfg));
  return e;
}

Engine::~Engine() {
  if (judge_worker_) judge_worker_->stop();  // its tasks write through the writers below
  if (worker_) worker_->stop();
  if (facts_writer_) (void)facts_writer_->flush();
  if (writer_) (void)writer_->flush();
}

bool Engine::healthy() {
  if (!store_->counter_get("health")) return false;
  // The facts writer is left out: a lost fact only makes the autoreply gate
  // know less about one message; it never costs a record or a reply.
  return writer_->healthy();
}

std::shared_ptr<const Snapshot> Engine::snapshot() const {
  std::lock_guard lock(mu_);
  return current_;
}

Status Engine::reload(const config::Config& cfg) {
  auto snap = build(cfg);
  BACKSTOP_TRY(snap);
  {
    std::lock_guard lock(mu_);
    current_ = std::move(*snap);
  }
  return note_key_file(cfg);
}

Status Engine::note_key_file(const config::Config& cfg) {
  if (snapshot()->keys.empty() || !create_keys_) return {};
  const std::string path = key_file_path(cfg);
  auto in_use = store_->record_get(kKeyFileInUseKey);
  BACKSTOP_TRY(in_use);
  if (*in_use && **in_use == path) return {};
  return store_->record_put(kKeyFileInUseKey, path, 0);
}

Result<std::shared_ptr<const Snapshot>> Engine::build(const config::Config& cfg) const {
  auto s = std::make_shared<Snapshot>();
  s->cfg = cfg;
  const auto& rules_file = cfg.get_string("classify.rules_file");
  auto rules = rules_file.empty() ? classify::builtin_rules() : classify::load_rules_file(rules_file);
  if (!rules) return fail(rules.error().code(), "classify rules: " + rules.error().message());
  s->rules = *rules;
  s->classifier = std::make_unique<classify::Classifier>(s->rules);

  const auto& mode = cfg.get_string("batv.mode");
  s->batv_mode = mode == "enforce" ? BatvMode::kEnforce : mode == "off" ? BatvMode::kOff : BatvMode::kTag;
  s->batv_sign = cfg.get_bool("batv.sign");
  int lifetime = static_cast<int>(cfg.get_int("batv.lifetime_days"));
  s->batv_enforce_from = first_start_ + cfg.get_int("batv.grace_days") * kDay;
  if (s->batv_sign || s->batv_mode != BatvMode::kOff) {
    std::string path = key_file_path(cfg);
    auto keys = batv::load_key_file(path);
    if (!keys && keys.error().code() == Code::kNotFound && create_keys_) {
      auto in_use = store_->record_get(kKeyFileInUseKey);
      if (!in_use) return fail(in_use.error().code(), "store: " + in_use.error().message());
      if (*in_use) {
        return fail(Code::kEnvironment,
                    "BATV key file " + path + " is missing, but this state (" + cfg.get_string("state.dir") +
                        ") has signed with " + **in_use +
                        ": a new key would make every outstanding tag fail (550 under batv.mode = "
                        "\"enforce\"). Restore the key file from your backup; to start over on purpose, "
                        "create one with `backstop batv keygen --key-file " + path + "`");
      }
      // LMDB creates state.dir; with Redis nothing else does, so the key
      // file's directory is made here (private, as LMDB makes it).
      if (auto parent = std::filesystem::path(path).parent_path(); !parent.empty()) {
        std::error_code ec;
        if (!std::filesystem::exists(parent, ec) && std::filesystem::create_directories(parent, ec)) {
          std::filesystem::permissions(parent, std::filesystem::perms::owner_all, ec);
        }
      }
      keys = batv::load_or_create_key_file(path, secure_random());
    }
    if (!keys && !(keys.error().code() == Code::kNotFound && !create_keys_)) {
      return fail(keys.error().code(), "BATV key file " + path + ": " + keys.error().message());
    }
    if (keys) {
      s->keys = std::move(*keys);
      int k = static_cast<int>(cfg.get_int("batv.key_number"));
      if (cfg.is_set("batv.key_number")) {
        auto st = s->keys.set_signing_key(k);
        if (!st) return fail(Code::kInvalidArgument, "batv.key_number " + std::to_string(k) +
                                                         " is not in " + path);
      }
    }
  }
  auto sign_domains = cfg.get_list("batv.sign_domains");
  s->signer.domains = lowered(sign_domains.empty() ? cfg.get_list("domains.local") : sign_domains);
  s->signer.lifetime = lifetime;
  s->verifier = std::make_unique<KeyRingVerifier>(&s->keys, clock_, lifetime);

  correlate::Settings cs;
  cs.local_domains = lowered(cfg.get_list("domains.local"));
  auto relays = correlate::RelaySet::parse(cfg.get_list("relays.ours"));
  if (!relays) return fail(relays.error().code(), relays.error().message());
  cs.relays = std::move(*relays);
  if (!correlate::parse_received_format(cfg.get_string("relays.received_format"), &cs.received_format)) {
    return fail(Code::kInvalidArgument, "relays.received_format: not a known format");  // the key table checks
  }
  cs.warmup_seconds = cfg.get_int("ledger.warmup_days") * kDay;
  cs.ledger_ttl_seconds = cfg.get_int("ledger.ttl_days") * kDay;
  cs.recipient_window_seconds = cfg.get_int("ledger.recipient_window_days") * kDay;
  if (cs.recipient_window_seconds > cs.ledger_ttl_seconds) {
    return fail(Code::kInvalidArgument, "ledger.recipient_window_days: longer than ledger.ttl_days");
  }
  s->correlator = std::make_unique<correlate::Correlator>(std::move(cs), store_.get(),
                                                          s->verifier.get(), clock_);
  s->table = policy::Table::from_config(cfg);
  mail::Limits limits = mail::kDefaultLimits;
  s->max_body = static_cast<std::size_t>(cfg.get_int("classify.max_body"));
  limits.max_body_text = s->max_body;
  s->judge = std::make_unique<Judge>(s->classifier.get(), s->correlator.get(), &s->table, limits, classify_hook_);

  s->daemon_names = cfg.get_list("outbound.daemon_names");
  for (const auto& n : cfg.get_list("outbound.networks")) {
    auto net = ip::parse_network(n);
    if (!net) return fail(Code::kInvalidArgument, "outbound.networks: " + net.error().message());
    s->outbound_networks.push_back(*net);
  }
  s->trap_addresses = lowered(cfg.get_list("trap.addresses"));
  s->trap_domains = lowered(cfg.get_list("trap.domains"));
  s->trap_discard = cfg.get_string("trap.action") == "discard";
  s->trap_redactor = std::make_shared<const dnsbl::Redactor>(cfg.get_list("trap.addresses"), cfg.get_list("trap.domains"));
  s->trap_policy.threshold = static_cast<std::uint64_t>(cfg.get_int("trap.threshold"));
  s->trap_policy.expire_days = cfg.get_int("trap.expire_days");
  s->trap_retention_days = cfg.get_int("trap.retention_days");
  s->fail_open = cfg.get_string("milter.on_error") == "accept";
  s->ledger_ttl = cfg.get_int("ledger.ttl_days") * kDay;
  s->tag_header = cfg.get_string("actions.tag_header");

  // Outbound limits.
  outbound::Settings ls;
  const auto& tables = cfg.get_tables("limits.rule");
  for (std::size_t i = 0; i < tables.size(); ++i) {
    auto r = outbound::parse_rule(tables[i], i);
    if (!r) return fail(Code::kInvalidArgument, r.error().message());
    ls.rules.push_back(std::move(*r));
  }
  ls.exempt = cfg.get_list("limits.exempt");
  auto limiter = outbound::Limiter::create(std::move(ls), counters_ ? counters_.get() : store_.get(), clock_);
  if (!limiter) return fail(Code::kInvalidArgument, limiter.error().message());
  s->limiter = std::make_unique<outbound::Limiter>(std::move(*limiter));
  s->limits_notify = cfg.get_string("limits.notify");
  s->limits_sendmail = cfg.get_string("limits.sendmail");

  // The autoreply gate.
  const auto& gm = cfg.get_string("autoreply.gate");
  s->gate.mode = gm == "off" ? GateSettings::Mode::kOff : gm == "log" ? GateSettings::Mode::kLog : GateSettings::Mode::kEnforce;
  s->gate.enforce_from = first_start_ + cfg.get_int("ledger.warmup_days") * kDay;
  s->gate.period = cfg.get_int("autoreply.period_days") * kDay;
  s->gate.any_sender = lowered(cfg.get_list("autoreply.any_sender"));
  s->gate.challenge_allowed = cfg.get_string("autoreply.challenge") == "accept";
  for (const auto& h : lowered(cfg.get_list("autoreply.list_hosts"))) {
    if (h.find('/') != std::string::npos || ip::parse(h)) {
      auto net = ip::parse_network(h);
      if (!net) return fail(Code::kInvalidArgument, "autoreply.list_hosts: " + net.error().message());
      s->gate.list_networks.push_back(*net);
    } else {
      s->gate.list_names.push_back(h);
    }
  }
  const auto& ra = cfg.get_string("autoreply.refuse_action");
  s->gate.refuse = ra == "discard" ? GateSettings::Refuse::kDiscard : ra == "hold" ? GateSettings::Refuse::kHold : GateSettings::Refuse::kReject;
  s->gate.facts_ttl = cfg.get_int("autoreply.facts_ttl_days") * kDay;
  return std::shared_ptr<const Snapshot>(std::move(s));
}

}  // namespace backstop::daemon
