// In-memory Store: ordered maps under one mutex. Same semantics as LMDB,
// nothing persisted.
#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "common/ip.h"
#include "store/codec.h"
#include "store/internal.h"
#include "store/store.h"

namespace backstop::store {
namespace {

using namespace internal;

bool expired_at(std::int64_t expires_at, std::int64_t now) {
  return expires_at != 0 && expires_at <= now;
}

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(Options o) : opt_(o), clock_(clock_of(o)) {}

  Status ledger_put(std::string_view id, const LedgerEntry& e) override {
    BACKSTOP_TRY(check_message_id(id));
    BACKSTOP_TRY(check_ledger_entry(e));
    std::lock_guard lock(mu_);
    put_ledger_locked(id, e);
    return {};
  }
  Result<std::optional<LedgerEntry>> ledger_get(std::string_view id) override {
    BACKSTOP_TRY(check_message_id(id));
    std::lock_guard lock(mu_);
    auto it = ledger_.find(std::string(id));
    if (it == ledger_.end() || ledger_expired(it->second.time)) return std::optional<LedgerEntry>();
    return std::optional<LedgerEntry>(it->second);
  }
  Result<std::vector<LedgerItem>> ledger_recent(std::size_t limit) override {
    std::lock_guard lock(mu_);
    std::vector<LedgerItem> out;
    for (auto it = by_time_.rbegin(); it != by_time_.rend() && out.size() < limit; ++it) {
      if (ledger_expired(it->first)) break;
      out.push_back({it->second, ledger_.at(it->second)});
    }
    return out;
  }
  Result<std::optional<std::int64_t>> ledger_first_time() override {
    std::lock_guard lock(mu_);
    return first_time_;
  }
  // No index here: the entries of the window are scanned (tests and scan).
  Result<std::vector<LedgerItem>> ledger_find(const LedgerFind& q) override {
    BACKSTOP_TRY(check_ledger_find(q));
    std::lock_guard lock(mu_);
    std::vector<LedgerItem> out;
    if (q.from > q.to) return out;
    auto end = by_time_.upper_bound({q.to, std::string(kMaxMessageIdBytes + 1, '\xff')});
    auto begin = by_time_.lower_bound({q.from, std::string()});
    for (auto it = std::make_reverse_iterator(end); it != std::make_reverse_iterator(begin); ++it) {
      if (out.size() == kMaxLedgerFind) break;
      if (ledger_expired(it->first)) break;
      const LedgerEntry& e = ledger_.at(it->second);
      if (ledger_answers(e, q)) out.push_back({it->second, e});
    }
    return out;
  }

  Status correspondent_record(std::string_view local, std::string_view external,
                              std::int64_t time) override {
    BACKSTOP_TRY(check_correspondent(local, external));
    std::lock_guard lock(mu_);
    record_correspondent_locked(local, external, time);
    return {};
  }
  Result<std::optional<std::int64_t>> correspondent_last_seen(std::string_view local,
                                                              std::string_view external) override {
    BACKSTOP_TRY(check_correspondent(local, external));
    std::lock_guard lock(mu_);
    auto it = corr_.find(correspondent_key(local, external));
    if (it == corr_.end() || corr_expired(it->second)) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(it->second);
  }
  Result<std::vector<Correspondent>> correspondents(std::string_view local,
                                                    std::size_t limit) override {
    BACKSTOP_TRY(check_address("local address", local));
    std::lock_guard lock(mu_);
    std::vector<Correspondent> out;
    const std::string prefix = correspondent_key(local, "");
    for (auto it = corr_.lower_bound(prefix);
         it != corr_.end() && it->first.starts_with(prefix) && out.size() < limit; ++it) {
      if (!corr_expired(it->second)) out.push_back({it->first.substr(prefix.size()), it->second});
    }
    return out;
  }

  Result<std::int64_t> counter_add(std::string_view key, std::int64_t delta,
                                   std::int64_t expires_at) override {
    BACKSTOP_TRY(check_key(key));
    std::lock_guard lock(mu_);
    auto& c = live_counter(key, expires_at);
    c.value += delta;
    return c.value;
  }
  Result<bool> counter_add_if_below(std::string_view key, std::int64_t delta, std::int64_t limit,
                                    std::int64_t expires_at) override {
    BACKSTOP_TRY(check_key(key));
    std::lock_guard lock(mu_);
    auto& c = live_counter(key, expires_at);
    if (c.value + delta > limit) return false;
    c.value += delta;
    return true;
  }
  Result<std::int64_t> counter_get(std::string_view key) override {
    BACKSTOP_TRY(check_key(key));
    std::lock_guard lock(mu_);
    auto it = counters_.find(std::string(key));
    if (it == counters_.end() || expired_at(it->second.expires_at, now())) return std::int64_t{0};
    return it->second.value;
  }

  Status record_put(std::string_view key, std::string_view value, std::int64_t expires_at) override {
    BACKSTOP_TRY(check_record(key, value));
    std::lock_guard lock(mu_);
    records_[std::string(key)] = {expires_at, std::string(value)};
    return {};
  }
  Result<std::optional<std::string>> record_get(std::string_view key) override {
    BACKSTOP_TRY(check_key(key));
    std::lock_guard lock(mu_);
    auto it = records_.find(std::string(key));
    if (it == records_.end() || expired_at(it->second.expires_at, now())) {
      return std::optional<std::string>();
    }
    return std::optional<std::string>(it->second.value);
  }
  Status records_update(std::span<const std::string> keys, const RecordUpdateFn& fn) override {
    BACKSTOP_TRY(check_update_keys(keys));
    std::lock_guard lock(mu_);
    std::vector<std::optional<std::string>> current;
    current.reserve(keys.size());
    for (const auto& k : keys) {
      auto it = records_.find(k);
      if (it == records_.end() || expired_at(it->second.expires_at, now())) current.emplace_back();
      else current.emplace_back(it->second.value);
    }
    std::vector<RecordChange> changes = fn(current);
    BACKSTOP_TRY(check_update_changes(keys, changes));
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (changes[i].op == RecordChange::Op::kPut) {
        records_[keys[i]] = {changes[i].expires_at, std::move(changes[i].value)};
      } else if (changes[i].op == RecordChange::Op::kErase) {
        records_.erase(keys[i]);
      }
    }
    return {};
  }
  Status record_erase(std::string_view key) override {
    BACKSTOP_TRY(check_key(key));
    std::lock_guard lock(mu_);
    records_.erase(std::string(key));
    return {};
  }

  Result<Listing> listing_hit(std::string_view ip, const Evidence& e) override {
    auto addr = ip::parse(ip);
    if (!addr) return unexpected<Error>(std::move(addr).error());
    BACKSTOP_TRY(check_evidence(e));
    std::lock_guard lock(mu_);
    return hit_locked(*addr, e);
  }
  Result<std::optional<Listing>> listing_get(std::string_view ip) override {
    auto key = ip::canonical(ip);
    if (!key) return unexpected<Error>(std::move(key).error());
    std::lock_guard lock(mu_);
    auto it = listings_.find(*key);
    if (it == listings_.end()) return std::optional<Listing>();
    return std::optional<Listing>(it->second);
  }
  Status listing_put(const Listing& l) override {
    auto key = ip::canonical(l.ip);
    if (!key) return unexpected<Error>(std::move(key).error());
    std::lock_guard lock(mu_);
    Listing copy = l;
    copy.ip = *key;
    listings_[*key] = std::move(copy);
    return {};
  }
  Result<std::vector<Listing>> listing_all() override {
    std::lock_guard lock(mu_);
    std::vector<Listing> out;
    for (const auto& [k, l] : listings_) out.push_back(l);
    return out;
  }
  Result<bool> listing_remove(std::string_view ip) override {
    auto key = ip::canonical(ip);
    if (!key) return unexpected<Error>(std::move(key).error());
    std::lock_guard lock(mu_);
    return listings_.erase(*key) > 0;
  }
  Status allowlist_add(std::string_view cidr) override {
    auto c = ip::parse_network(cidr);
    if (!c) return unexpected<Error>(std::move(c).error());
    std::lock_guard lock(mu_);
    allow_.insert(ip::to_string(*c));
    return {};
  }
  Result<bool> allowlist_remove(std::string_view cidr) override {
    auto c = ip::parse_network(cidr);
    if (!c) return unexpected<Error>(std::move(c).error());
    std::lock_guard lock(mu_);
    return allow_.erase(ip::to_string(*c)) > 0;
  }
  Result<std::vector<std::string>> allowlist() override {
    std::lock_guard lock(mu_);
    return std::vector<std::string>(allow_.begin(), allow_.end());
  }
  Result<bool> allowlisted(std::string_view ip) override {
    auto addr = ip::parse(ip);
    if (!addr) return unexpected<Error>(std::move(addr).error());
    std::lock_guard lock(mu_);
    return allowlisted_locked(*addr);
  }

  Status apply(std::span<const WriteOp> ops) override {
    for (const auto& op : ops) BACKSTOP_TRY(check_op(op));
    std::lock_guard lock(mu_);
    for (const auto& op : ops) apply_locked(op);
    return {};
  }

  // A copy taken under the lock, visited outside it.
  Status export_all(ExportVisitor& visitor) override {
    std::vector<ExportItem> items;
    {
      std::lock_guard lock(mu_);
      const auto t = now();
      for (const auto& [id, e] : ledger_) {
        if (!ledger_expired(e.time)) items.emplace_back(LedgerPut{id, e});
      }
      if (first_time_) items.emplace_back(LedgerFirstTime{*first_time_});
      for (const auto& [k, last] : corr_) {
        if (corr_expired(last)) continue;
        const auto nul = k.find('\0');
        items.emplace_back(CorrespondentSeen{k.substr(0, nul), k.substr(nul + 1), last});
      }
      for (const auto& [k, c] : counters_) {
        if (!expired_at(c.expires_at, t)) items.emplace_back(CounterPut{k, c.value, c.expires_at});
      }
      for (const auto& [k, r] : records_) {
        if (!expired_at(r.expires_at, t)) items.emplace_back(RecordPut{k, r.value, r.expires_at});
      }
      for (const auto& [k, l] : listings_) items.emplace_back(ListingPut{l});
      for (const auto& cidr : allow_) items.emplace_back(AllowlistAdd{cidr});
    }
    for (const auto& item : items) BACKSTOP_TRY(visitor.item(item));
    return {};
  }

  Result<std::size_t> purge_expired() override {
    std::lock_guard lock(mu_);
    const auto t = now();
    std::size_t n = 0;
    while (!by_time_.empty() && ledger_expired(by_time_.begin()->first)) {
      ledger_.erase(by_time_.begin()->second);
      by_time_.erase(by_time_.begin());
      ++n;
    }
    n += std::erase_if(corr_, [&](const auto& kv) { return corr_expired(kv.second); });
    n += std::erase_if(counters_, [&](const auto& kv) { return expired_at(kv.second.expires_at, t); });
    n += std::erase_if(records_, [&](const auto& kv) { return expired_at(kv.second.expires_at, t); });
    return n;
  }

 private:
  std::int64_t now() const { return clock_.now_unix(); }
  bool ledger_expired(std::int64_t time) const { return time + opt_.ledger_ttl <= now(); }
  bool corr_expired(std::int64_t last) const { return last + opt_.correspondent_ttl <= now(); }

  void apply_locked(const WriteOp& op) {
    if (auto* p = std::get_if<LedgerPut>(&op)) {
      put_ledger_locked(p->message_id, p->entry);
    } else if (auto* c = std::get_if<CorrespondentSeen>(&op)) {
      record_correspondent_locked(c->local, c->external, c->time);
    } else if (auto* r = std::get_if<RecordPut>(&op)) {
      records_[r->key] = {r->expires_at, r->value};
    } else if (auto* e = std::get_if<RecordErase>(&op)) {
      records_.erase(e->key);
    } else if (auto* f = std::get_if<LedgerFirstTime>(&op)) {
      if (!first_time_ || f->time < *first_time_) first_time_ = f->time;
    } else if (auto* n = std::get_if<CounterPut>(&op)) {
      counters_[n->key] = {n->value, n->expires_at};
    } else if (auto* l = std::get_if<ListingPut>(&op)) {
      Listing copy = l->listing;
      copy.ip = ip::canonical(copy.ip).value();
      listings_[copy.ip] = std::move(copy);
    } else if (auto* a = std::get_if<AllowlistAdd>(&op)) {
      allow_.insert(ip::to_string(ip::parse_network(a->cidr).value()));
    } else if (auto* ap = std::get_if<RecordAppend>(&op)) {
      std::optional<std::string> current;
      if (auto it = records_.find(ap->key); it != records_.end() && !expired_at(it->second.expires_at, now())) {
        current = it->second.value;
      }
      records_[ap->key] = {ap->expires_at, append_item(current, *ap)};
    } else {
      const auto& h = std::get<ListingHit>(op);
      hit_locked(ip::parse(h.ip).value(), h.evidence);
    }
  }

  void put_ledger_locked(std::string_view id, const LedgerEntry& e) {
    std::string key(id);
    if (auto it = ledger_.find(key); it != ledger_.end()) by_time_.erase({it->second.time, key});
    ledger_[key] = e;
    by_time_.insert({e.time, key});
    if (!first_time_ || e.time < *first_time_) first_time_ = e.time;
  }

  void record_correspondent_locked(std::string_view local, std::string_view external,
                                   std::int64_t time) {
    auto& last = corr_[correspondent_key(local, external)];
    last = std::max(last, time);
  }

  codec::Counter& live_counter(std::string_view key, std::int64_t expires_at) {
    auto [it, created] = counters_.try_emplace(std::string(key), codec::Counter{0, expires_at});
    if (!created && expired_at(it->second.expires_at, now())) it->second = {0, expires_at};
    return it->second;
  }

  bool allowlisted_locked(const ip::Address& ip) const {
    for (const auto& text : allow_) {
      if (ip::contains(ip::parse_network(text).value(), ip)) return true;
    }
    return false;
  }

  Listing hit_locked(const ip::Address& ip, const Evidence& e) {
    const std::string key = ip::to_string(ip);
    auto& l = listings_[key];
    l.ip = key;
    apply_hit(l, e, allowlisted_locked(ip));
    return l;
  }

  const Options opt_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, LedgerEntry> ledger_;
  std::set<std::pair<std::int64_t, std::string>> by_time_;
  std::optional<std::int64_t> first_time_;
  std::map<std::string, std::int64_t> corr_;
  std::map<std::string, codec::Counter, std::less<>> counters_;
  std::map<std::string, codec::Record> records_;
  std::map<std::string, Listing> listings_;
  std::set<std::string> allow_;
};

}  // namespace

std::unique_ptr<Store> make_memory_store(Options options) {
  return std::make_unique<MemoryStore>(options);
}

}  // namespace backstop::store
