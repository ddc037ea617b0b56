// backstop store copy|verify: move a whole state between backends (LMDB,
// Redis) and check one for damage, through Store::export_all().
//
// copy --from A --to B: every unexpired item of A's stores (main, counters,
// facts) is written to B's, in batches of kCopyBatch ops. B must hold
// nothing unless --merge: then B's newer ledger entries, higher counters,
// existing records and newer listings stay, correspondents keep the later
// time, the first time the earlier one, and allowlists are joined.
// Exit: 0 copied; 1 copied, but damaged records of A were skipped (named on
// stderr); 2 a bad configuration, a state that cannot be opened or walked,
// a destination that is not empty, or a failed write.
//
// verify: walks every store of the state; prints counts per kind and every
// damaged record. Exit: 0 clean; 1 damaged records; 2 the state cannot be
// opened or walked to the end (structural damage, Redis down).
#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "app/commands.h"
#include "app/common_options.h"
#include "common/text.h"
#include "daemon/state.h"
#include "store/store.h"

namespace backstop::app {
namespace {

// Ops per Store::apply() while copying: one LMDB transaction (one fsync) or
// one Redis MULTI/EXEC per batch. 2,000 ledger entries are ~0.5 MiB and
// keep Redis busy for a few milliseconds per batch; a million items are
// 500 commits.
constexpr std::size_t kCopyBatch = 2000;

// The kinds counted, in ExportItem's alternative order.
constexpr std::array<const char*, std::variant_size_v<store::ExportItem>> kKindNames = {
    "ledger", "first_time", "correspondents", "counters", "records", "listings", "allowlist"};

struct StoreCmdOptions {
  SharedOptions shared;
  std::string from;
  std::string to;
  bool merge = false;
};

struct Counts {
  std::array<std::size_t, kKindNames.size()> items{};
  std::size_t damaged = 0;
  std::size_t kept = 0;  // --merge: the destination's item was kept
  std::string line() const {
    std::string s;
    for (std::size_t i = 0; i < items.size(); ++i) {
      s += std::string(i ? " " : "") + kKindNames[i] + "=" + std::to_string(items[i]);
    }
    return s + " damaged=" + std::to_string(damaged);
  }
};

// One store of a state, by name, as open_state() gives it.
struct NamedStore {
  const char* name;
  store::Store* store;
};

std::vector<NamedStore> stores_of(const daemon::StateStores& s) {
  std::vector<NamedStore> out{{"main", s.main.get()}};
  if (s.counters) out.push_back({"counters", s.counters.get()});
  if (s.facts) out.push_back({"facts", s.facts.get()});
  return out;
}

void print_damage(std::string_view store, std::string_view what, std::string_view key, std::string_view why) {
  std::fprintf(stderr, "damaged %.*s %.*s %s: %s\n", static_cast<int>(store.size()), store.data(),
               static_cast<int>(what.size()), what.data(), text::log_safe(key).c_str(), text::log_safe(why).c_str());
}

// Opens every store of the state `file` names. Errors: a configuration that
// cannot be loaded, the memory backend (nothing to copy or verify), an LMDB
// state directory that does not exist when `must_exist`, a store that cannot
// be opened.
Result<daemon::StateStores> open_all(const std::string& file, const std::string& state_dir, bool must_exist,
                                     std::string* description) {
  auto cfg = load_config(file, state_dir);
  if (!cfg) return unexpected<Error>(Error(Code::kInvalidArgument, cfg.error().message()));
  *description = daemon::describe_state(*cfg);
  const auto& backend = cfg->get_string("state.backend");
  if (backend == "memory") {
    return fail(Code::kInvalidArgument, "state.backend = \"memory\" keeps nothing to copy or verify");
  }
  if (backend != "redis" && must_exist && !state_exists(*cfg)) {
    return fail(Code::kEnvironment, "state.dir " + cfg->get_string("state.dir") + " does not exist");
  }
  return daemon::open_state(*cfg, daemon::store_options(*cfg), daemon::StateScope::kWithSoftAsIs);
}

// Stops a walk at the first item: the store is not empty.
class FirstItem final : public store::ExportVisitor {
 public:
  bool found = false;
  Status item(const store::ExportItem&) override {
    found = true;
    return fail(Code::kInternal, "stop");
  }
  void damaged(std::string_view, std::string_view, std::string_view) override { found = true; }
};

// Counts a walk and names each damaged record on stderr.
class Verify final : public store::ExportVisitor {
 public:
  explicit Verify(const char* store) : store_(store) {}
  Counts counts;
  Status item(const store::ExportItem& item) override {
    ++counts.items[item.index()];
    return {};
  }
  void damaged(std::string_view what, std::string_view key, std::string_view why) override {
    ++counts.damaged;
    print_damage(store_, what, key, why);
  }

 private:
  const char* store_;
};

// Writes each item to `to` in batches; with `merge`, first reads what `to`
// holds for it and keeps the destination's where it is newer.
class Copy final : public store::ExportVisitor {
 public:
  Copy(const char* store, store::Store& to, bool merge) : store_(store), to_(to), merge_(merge) {}
  Counts counts;

  Status item(const store::ExportItem& item) override {
    if (merge_) {
      auto keep = destination_wins(item);
      BACKSTOP_TRY(keep);
      if (*keep) {
        ++counts.kept;
        return {};
      }
    }
    std::visit([&](const auto& x) { batch_.emplace_back(x); }, item);
    ++counts.items[item.index()];
    if (batch_.size() >= kCopyBatch) return flush();
    return {};
  }
  void damaged(std::string_view what, std::string_view key, std::string_view why) override {
    ++counts.damaged;
    print_damage(store_, what, key, why);
  }
  Status flush() {
    if (batch_.empty()) return {};
    auto s = to_.apply(batch_);
    batch_.clear();
    if (!s) return fail(s.error().code(), "writing to the destination: " + s.error().message());
    return {};
  }

 private:
  // --merge: true when the destination's item is to stay. Correspondents,
  // the first time and the allowlist merge by themselves (max, min, union).
  Result<bool> destination_wins(const store::ExportItem& item) {
    if (const auto* p = std::get_if<store::LedgerPut>(&item)) {
      auto d = to_.ledger_get(p->message_id);
      BACKSTOP_TRY(d);
      return d->has_value() && (*d)->time > p->entry.time;
    }
    if (const auto* n = std::get_if<store::CounterPut>(&item)) {
      auto d = to_.counter_get(n->key);
      BACKSTOP_TRY(d);
      return *d >= n->value && *d != 0;
    }
    if (const auto* r = std::get_if<store::RecordPut>(&item)) {
      auto d = to_.record_get(r->key);
      BACKSTOP_TRY(d);
      return d->has_value();
    }
    if (const auto* l = std::get_if<store::ListingPut>(&item)) {
      auto d = to_.listing_get(l->listing.ip);
      BACKSTOP_TRY(d);
      return d->has_value() && (*d)->last_seen >= l->listing.last_seen;
    }
    return false;
  }

  const char* store_;
  store::Store& to_;
  const bool merge_;
  std::vector<store::WriteOp> batch_;
};

int run_copy(const StoreCmdOptions& o) {
  std::string from_desc, to_desc;
  auto from = open_all(o.from, "", true, &from_desc);
  if (!from) return report_error(Error(from.error().code(), "--from " + o.from + ": " + from.error().message()));
  auto to = open_all(o.to, "", false, &to_desc);
  if (!to) return report_error(Error(to.error().code(), "--to " + o.to + ": " + to.error().message()));
  if (from_desc == to_desc) {
    return report_error(Error(Code::kInvalidArgument, "--from and --to name the same state: " + from_desc));
  }
  const auto sources = stores_of(*from), targets = stores_of(*to);
  if (sources.size() != targets.size()) {
    return report_error(Error(Code::kInvalidArgument, "the two states hold different stores"));
  }
  if (!o.merge) {
    for (const auto& t : targets) {
      FirstItem probe;
      auto s = t.store->export_all(probe);
      if (!s && !probe.found) return report_error(Error(s.error().code(), to_desc + ": " + s.error().message()));
      if (probe.found) {
        return report_error(Error(Code::kInvalidArgument, "the destination (" + to_desc + ", store " + t.name +
                                                               ") is not empty; --merge copies into it"));
      }
    }
  }
  std::size_t damaged = 0;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    Copy copy(sources[i].name, *targets[i].store, o.merge);
    auto s = sources[i].store->export_all(copy);
    if (s) s = copy.flush();
    if (!s) {
      std::fprintf(stderr, "backstop store: copy of %s stopped: %s\n(the destination holds a partial copy)\n",
                   sources[i].name, s.error().message().c_str());
      return 2;
    }
    std::printf("%s: copied %s%s\n", sources[i].name, copy.counts.line().c_str(),
                o.merge ? (" kept=" + std::to_string(copy.counts.kept)).c_str() : "");
    damaged += copy.counts.damaged;
  }
  std::printf("copied %s to %s\n", from_desc.c_str(), to_desc.c_str());
  if (damaged) {
    std::fprintf(stderr, "backstop store: %zu damaged record(s) skipped\n", damaged);
    return 1;
  }
  return 0;
}

int run_verify(const StoreCmdOptions& o) {
  std::string desc;
  auto state = open_all(o.shared.config, o.shared.state, true, &desc);
  if (!state) return report_error(state.error());
  std::size_t damaged = 0;
  bool broken = false;
  for (const auto& s : stores_of(*state)) {
    Verify v(s.name);
    auto r = s.store->export_all(v);
    std::printf("%s: %s%s\n", s.name, v.counts.line().c_str(), r ? "" : " (walk stopped)");
    if (!r) {
      std::fprintf(stderr, "backstop store: %s: %s\n", s.name, r.error().message().c_str());
      broken = true;
    }
    damaged += v.counts.damaged;
  }
  std::printf("%s: %s\n", desc.c_str(), broken ? "cannot be read to the end" : damaged ? "damaged" : "clean");
  return broken ? 2 : damaged ? 1 : 0;
}

}  // namespace

void add_store(CLI::App& root, int* exit_code) {
  auto o = std::make_shared<StoreCmdOptions>();
  auto* cmd = root.add_subcommand("store", "Copy a whole state between backends, or verify one");
  cmd->require_subcommand(1);

  auto* verify = cmd->add_subcommand(
      "verify", "Walk the whole state: counts per kind and every damaged record (exit 1 damaged, 2 unreadable)");
  verify->callback([o, exit_code] { *exit_code = run_verify(*o); });
  add_shared_options(cmd, &o->shared, {.state = "State directory (LMDB); overrides state.dir"});

  // Added after the shared options: copy names its two configurations itself.
  auto* copy = cmd->add_subcommand("copy", "Copy every unexpired item of one state into another (LMDB, Redis)");
  copy->add_option("--from", o->from, "Configuration file of the state to copy")->required();
  copy->add_option("--to", o->to, "Configuration file of the destination state")->required();
  copy->add_flag("--merge", o->merge,
                 "Copy into a destination that is not empty (its newer entries and higher counters stay)");
  copy->callback([o, exit_code] { *exit_code = run_copy(*o); });
}

}  // namespace backstop::app
