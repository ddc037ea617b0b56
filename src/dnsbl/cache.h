// A bounded cache of DNSBL lookup results that honours DNS TTLs.
// Keyed by query name; holds successful answers only (listed or not listed),
// never errors, so a timeout is retried on the next message.
// Expiry uses Clock::monotonic_ns(), so tests drive it with a ManualClock.
// Thread-safety: none; one cache per event-loop thread (one per Client).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "dnsbl/zone.h"

namespace backstop::dnsbl {

// Entries kept; beyond it the least recently used goes. ~64 Ki entries of
// ~300 bytes is ~20 MiB at most, and a busy MX sees far fewer distinct
// null-sender client IPs within a TTL.
inline constexpr std::size_t kDefaultCacheEntries = 64 * 1024;
// Upper bound on any TTL we honour, so a delisting reaches us within an hour
// even if a zone publishes day-long TTLs.
inline constexpr std::uint32_t kMaxCacheTtlSeconds = 3600;
// Negative answers without an SOA (rbldnsd without $SOA) are cached this long.
inline constexpr std::uint32_t kDefaultNegativeTtlSeconds = 300;

class LookupCache {
 public:
  LookupCache(const Clock& clock, std::size_t max_entries = kDefaultCacheEntries);

  // The cached result, or nullopt when absent or expired (an expired entry is
  // dropped). A hit refreshes the entry's LRU position, not its expiry.
  std::optional<ZoneResult> get(std::string_view key);
  // Stores `value` for min(ttl, kMaxCacheTtlSeconds) seconds. A ttl of 0, or a
  // kError value, is not stored.
  void put(std::string_view key, const ZoneResult& value, std::uint32_t ttl_seconds);
  std::size_t size() const noexcept { return map_.size(); }
  std::size_t max_entries() const noexcept { return max_entries_; }

 private:
  struct Entry {
    std::string key;
    ZoneResult value;
    std::int64_t expires_ns = 0;
  };
  const Clock& clock_;
  std::size_t max_entries_;
  std::list<Entry> lru_;  // front = most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
};

}  // namespace backstop::dnsbl
