#include "store/fault_store.h"

#include <stdexcept>

namespace backstop::store {

FaultStore::FaultStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

void FaultStore::fail_writes(int n, Code code) {
  writes_.code.store(code);
  writes_.throws.store(false);
  writes_.left.store(n);
}

void FaultStore::fail_reads(int n, Code code) {
  reads_.code.store(code);
  reads_.throws.store(false);
  reads_.left.store(n);
}

void FaultStore::throw_on_writes(int n) {
  writes_.throws.store(true);
  writes_.left.store(n);
}

void FaultStore::throw_on_reads(int n) {
  reads_.throws.store(true);
  reads_.left.store(n);
}

void FaultStore::disarm() {
  writes_.left.store(0);
  reads_.left.store(0);
}

std::optional<Error> FaultStore::trip(Arm& a) {
  int left = a.left.load();
  for (;;) {
    if (left == 0) return std::nullopt;
    if (left < 0 || a.left.compare_exchange_weak(left, left - 1)) break;
  }
  failed_.fetch_add(1);
  if (a.throws.load()) throw std::runtime_error("injected store exception");
  return Error(a.code.load(), "injected store fault");
}

Status FaultStore::ledger_put(std::string_view id, const LedgerEntry& e) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->ledger_put(id, e);
}

Result<std::optional<LedgerEntry>> FaultStore::ledger_get(std::string_view id) {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->ledger_get(id);
}

Result<std::vector<LedgerItem>> FaultStore::ledger_recent(std::size_t limit) {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->ledger_recent(limit);
}

Result<std::optional<std::int64_t>> FaultStore::ledger_first_time() {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->ledger_first_time();
}

Result<std::vector<LedgerItem>> FaultStore::ledger_find(const LedgerFind& q) {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->ledger_find(q);
}

Status FaultStore::correspondent_record(std::string_view local, std::string_view external, std::int64_t time) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->correspondent_record(local, external, time);
}

Result<std::optional<std::int64_t>> FaultStore::correspondent_last_seen(std::string_view local, std::string_view external) {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->correspondent_last_seen(local, external);
}

Result<std::vector<Correspondent>> FaultStore::correspondents(std::string_view local, std::size_t limit) {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->correspondents(local, limit);
}

Result<std::int64_t> FaultStore::counter_add(std::string_view key, std::int64_t delta, std::int64_t expires_at) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->counter_add(key, delta, expires_at);
}

Result<bool> FaultStore::counter_add_if_below(std::string_view key, std::int64_t delta, std::int64_t limit, std::int64_t expires_at) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->counter_add_if_below(key, delta, limit, expires_at);
}

Result<std::int64_t> FaultStore::counter_get(std::string_view key) {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->counter_get(key);
}

Status FaultStore::record_put(std::string_view key, std::string_view value, std::int64_t expires_at) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->record_put(key, value, expires_at);
}

Result<std::optional<std::string>> FaultStore::record_get(std::string_view key) {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->record_get(key);
}

Status FaultStore::record_erase(std::string_view key) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->record_erase(key);
}

Status FaultStore::records_update(std::span<const std::string> keys, const RecordUpdateFn& fn) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->records_update(keys, fn);
}

Result<std::vector<WindowResult>> FaultStore::Windows::check_and_count(std::span<const WindowSpec> windows,
                                                                     std::int64_t now) {
  if (auto fault = s_->w()) return unexpected<Error>(std::move(*fault));
  return s_->inner_->window_counter()->check_and_count(windows, now);
}

Result<Listing> FaultStore::listing_hit(std::string_view ip, const Evidence& evidence) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->listing_hit(ip, evidence);
}

Result<std::optional<Listing>> FaultStore::listing_get(std::string_view ip) {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->listing_get(ip);
}

Status FaultStore::listing_put(const Listing& listing) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->listing_put(listing);
}

Result<std::vector<Listing>> FaultStore::listing_all() {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->listing_all();
}

Result<bool> FaultStore::listing_remove(std::string_view ip) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->listing_remove(ip);
}

Status FaultStore::allowlist_add(std::string_view cidr) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->allowlist_add(cidr);
}

Result<bool> FaultStore::allowlist_remove(std::string_view cidr) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->allowlist_remove(cidr);
}

Result<std::vector<std::string>> FaultStore::allowlist() {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->allowlist();
}

Result<bool> FaultStore::allowlisted(std::string_view ip) {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->allowlisted(ip);
}

Status FaultStore::apply(std::span<const WriteOp> ops) {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->apply(ops);
}

Status FaultStore::export_all(ExportVisitor& visitor) {
  if (auto fault = r()) return unexpected<Error>(std::move(*fault));
  return inner_->export_all(visitor);
}

Result<std::size_t> FaultStore::purge_expired() {
  if (auto fault = w()) return unexpected<Error>(std::move(*fault));
  return inner_->purge_expired();
}

}  // namespace backstop::store
