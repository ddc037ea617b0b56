#include "dnsbl/cache.h"

#include <algorithm>

namespace backstop::dnsbl {

LookupCache::LookupCache(const Clock& clock, std::size_t max_entries)
    : clock_(clock), max_entries_(max_entries == 0 ? 1 : max_entries) {}

std::optional<ZoneResult> LookupCache::get(std::string_view key) {
  auto it = map_.find(std::string(key));
  if (it == map_.end()) return std::nullopt;
  if (clock_.monotonic_ns() >= it->second->expires_ns) {
    lru_.erase(it->second);
    map_.erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ZoneResult r = it->second->value;
  r.from_cache = true;
  return r;
}

void LookupCache::put(std::string_view key, const ZoneResult& value, std::uint32_t ttl_seconds) {
  if (ttl_seconds == 0 || value.status == LookupStatus::kError) return;
  const std::int64_t ttl = std::min(ttl_seconds, kMaxCacheTtlSeconds);
  const std::int64_t expires = clock_.monotonic_ns() + ttl * 1'000'000'000;
  std::string k(key);
  if (auto it = map_.find(k); it != map_.end()) {
    it->second->value = value;
    it->second->expires_ns = expires;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  while (map_.size() >= max_entries_) {
    map_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{k, value, expires});
  map_.emplace(std::move(k), lru_.begin());
}

}  // namespace backstop::dnsbl
