// The trap side's listing rules over the store (store/store.h):
//  - every backscatter hit is recorded against the delivering IP (hits by
//    kind, first/last seen, last evidence — the store keeps those);
//  - an IP is listed once it has `threshold` hits (trap.threshold, default 1)
//    and stays listed until `expire_days` days (trap.expire_days, default 28)
//    pass without a hit;
//  - allowlisted networks are never listed; delisting is free, immediate and
//    logged (a log line and a store record "dnsbl:delist:<ip>"), and a new
//    hit after a delisting lists again;
//  - each self-service delisting (the lookup page) doubles the length of the
//    IP's later listings, up to 2^kMaxEscalationDoublings times expire_days,
//    so a source that keeps sending backscatter cannot keep itself off the
//    list by delisting (the operator's `dnsbl delist` does not escalate).
// Plain spam (kind "none") never reaches record_hit: see trap.h.
// Thread-safety: as the Store (every method may be called from any thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "store/store.h"

namespace backstop::dnsbl {

inline constexpr std::uint64_t kDefaultTrapThreshold = 1;
inline constexpr std::int64_t kDefaultExpireDays = 28;
// Delisting records are kept this long for audit.
inline constexpr std::int64_t kDelistRecordSeconds = 365 * 86400;
// Escalation cap: 28 days (the default) become at most 224 after three
// self-service delistings; longer would outlast any plausible fix of a
// mail server's bounce configuration.
inline constexpr std::uint32_t kMaxEscalationDoublings = 3;
// Store record key prefix of an IP's trap evidence (dnsbl/evidence.h);
// purge() removes it with the listing.
inline constexpr std::string_view kEvidenceKeyPrefix = "dnsbl:evidence:";

struct ListingPolicy {
  std::uint64_t threshold = kDefaultTrapThreshold;  // trap.threshold (>= 1)
  std::int64_t expire_days = kDefaultExpireDays;    // trap.expire_days (>= 1)
};

enum class ListingState { kActive, kBelowThreshold, kExpired, kDelisted };
std::string_view state_name(ListingState s) noexcept;

// The state of `l` at unix time `now` under `policy`. kDelisted covers both a
// manual delisting and an allowlisted address (listed == false).
ListingState listing_state(const store::Listing& l, const ListingPolicy& policy, std::int64_t now);
// How many times expire_days a listing of `l` lasts: 2^min(self_delists,
// kMaxEscalationDoublings).
constexpr std::int64_t escalation_factor(const store::Listing& l) {
  return std::int64_t{1} << (l.self_delists < kMaxEscalationDoublings ? l.self_delists : kMaxEscalationDoublings);
}
// Unix time at which an active listing expires (last_seen + expire_days x
// escalation_factor).
std::int64_t expires_at(const store::Listing& l, const ListingPolicy& policy);
// Longest a listing can last after its last hit, in seconds (the fully
// escalated duration): evidence is kept at least this long.
constexpr std::int64_t longest_listing_seconds(const ListingPolicy& policy) {
  return policy.expire_days * 86400 * (std::int64_t{1} << kMaxEscalationDoublings);
}

// Who delists.
enum class DelistBy {
  kOperator,     // `backstop dnsbl delist`, the allowlist
  kSelfService,  // the lookup page's form: counted in Listing::self_delists
};

// Receives one human-readable line per state change (hit that lists, delist,
// allow). Default: a line on stderr.
using ListingLog = std::function<void(std::string_view)>;

class Listings {
 public:
  // `store` and `clock` are not owned and outlive this object.
  Listings(store::Store& store, const Clock& clock, ListingPolicy policy, ListingLog log = {});

  // Records one hit. `ip` in any form ip::parse accepts (canonicalised, IPv4-
  // mapped folded). Evidence time 0 means now. Returns the listing after the hit.
  Result<store::Listing> record_hit(std::string_view ip, store::Evidence evidence);
  Result<std::optional<store::Listing>> get(std::string_view ip);
  // Every listing the store has, active or not, in key order.
  Result<std::vector<store::Listing>> all();
  // Listings in state kActive now: what the zone export publishes.
  Result<std::vector<store::Listing>> active();
  // Delists at once: listed = false, logged with `reason`. false if unknown.
  // kSelfService also counts the delisting in Listing::self_delists.
  Result<bool> delist(std::string_view ip, std::string_view reason, DelistBy by = DelistBy::kOperator);
  // Adds `cidr` to the allowlist and delists every listing inside it.
  // Returns how many listings were delisted.
  Result<std::size_t> allow(std::string_view cidr);
  // Removes listings that expired more than `keep_days` ago, with their
  // evidence records; returns the count.
  Result<std::size_t> purge(std::int64_t keep_days);

  const ListingPolicy& policy() const noexcept { return policy_; }
  std::int64_t now() const { return clock_.now_unix(); }

 private:
  void log(const std::string& line) const;

  store::Store& store_;
  const Clock& clock_;
  ListingPolicy policy_;
  ListingLog log_;
};

}  // namespace backstop::dnsbl
