#include "dnsbl/listings.h"

#include <cstdint>
#include <cstdio>

#include "common/ip.h"
#include "dnsbl/txt.h"

namespace backstop::dnsbl {

std::string_view state_name(ListingState s) noexcept {
  switch (s) {
    case ListingState::kActive: return "listed";
    case ListingState::kBelowThreshold: return "below-threshold";
    case ListingState::kExpired: return "expired";
    case ListingState::kDelisted: return "delisted";
  }
  return "delisted";
}

std::int64_t expires_at(const store::Listing& l, const ListingPolicy& policy) {
  return l.last_seen + policy.expire_days * 86400 * escalation_factor(l);
}

ListingState listing_state(const store::Listing& l, const ListingPolicy& policy, std::int64_t now) {
  if (!l.listed) return ListingState::kDelisted;
  const std::uint64_t threshold = policy.threshold < 1 ? 1 : policy.threshold;
  if (l.total_hits() < threshold) return ListingState::kBelowThreshold;
  if (now >= expires_at(l, policy)) return ListingState::kExpired;
  return ListingState::kActive;
}

Listings::Listings(store::Store& store, const Clock& clock, ListingPolicy policy, ListingLog log)
    : store_(store), clock_(clock), policy_(policy), log_(std::move(log)) {}

void Listings::log(const std::string& line) const {
  if (log_) {
    log_(line);
  } else {
    std::fprintf(stderr, "backstop: dnsbl: %s\n", line.c_str());
  }
}

namespace {

Result<std::string> canonical(std::string_view ip) {
  auto parsed = ip::parse(ip);
  if (!parsed) return unexpected<Error>(std::move(parsed).error());
  return ip::to_string(*parsed);
}

}  // namespace

Result<store::Listing> Listings::record_hit(std::string_view ip, store::Evidence evidence) {
  auto key = canonical(ip);
  if (!key) return unexpected<Error>(std::move(key).error());
  if (evidence.time == 0) evidence.time = clock_.now_unix();
  evidence.kind = sanitize_txt(evidence.kind, store::kMaxKindBytes);
  evidence.message_id = sanitize_txt(evidence.message_id, store::kMaxMessageIdBytes);
  auto before = store_.listing_get(*key);
  if (!before) return unexpected<Error>(std::move(before).error());
  const std::int64_t now = clock_.now_unix();
  const bool was_active = before->has_value() && listing_state(**before, policy_, now) == ListingState::kActive;
  auto after = store_.listing_hit(*key, evidence);
  if (!after) return after;
  if (!was_active && listing_state(*after, policy_, now) == ListingState::kActive) {
    log("listed " + *key + " (" + evidence.kind + ", " + std::to_string(after->total_hits()) + " hits)");
  }
  return after;
}

Result<std::optional<store::Listing>> Listings::get(std::string_view ip) {
  auto key = canonical(ip);
  if (!key) return unexpected<Error>(std::move(key).error());
  return store_.listing_get(*key);
}

Result<std::vector<store::Listing>> Listings::all() { return store_.listing_all(); }

Result<std::vector<store::Listing>> Listings::active() {
  auto all = store_.listing_all();
  if (!all) return all;
  const std::int64_t now = clock_.now_unix();
  std::vector<store::Listing> out;
  for (auto& l : *all) {
    if (listing_state(l, policy_, now) == ListingState::kActive) out.push_back(std::move(l));
  }
  return out;
}

Result<bool> Listings::delist(std::string_view ip, std::string_view reason, DelistBy by) {
  auto key = canonical(ip);
  if (!key) return unexpected<Error>(std::move(key).error());
  auto current = store_.listing_get(*key);
  if (!current) return unexpected<Error>(std::move(current).error());
  if (!current->has_value()) return false;
  store::Listing l = **current;
  l.listed = false;
  if (by == DelistBy::kSelfService && l.self_delists < UINT32_MAX) ++l.self_delists;
  BACKSTOP_TRY(store_.listing_put(l));
  const std::int64_t now = clock_.now_unix();
  const std::string why = sanitize_txt(reason, 200);
  BACKSTOP_TRY(store_.record_put("dnsbl:delist:" + *key, std::to_string(now) + " " + why,
                                 now + kDelistRecordSeconds));
  log(std::string(by == DelistBy::kSelfService ? "self-service delisted " : "delisted ") + *key + " (" +
      (why.empty() ? std::string("by request") : why) + ")" +
      (by == DelistBy::kSelfService ? "; self-service delistings: " + std::to_string(l.self_delists) : ""));
  return true;
}

Result<std::size_t> Listings::allow(std::string_view cidr) {
  auto net = ip::parse_network(cidr);
  if (!net) return unexpected<Error>(std::move(net).error());
  BACKSTOP_TRY(store_.allowlist_add(ip::to_string(*net)));
  log("allowlisted " + ip::to_string(*net));
  auto all = store_.listing_all();
  if (!all) return unexpected<Error>(std::move(all).error());
  std::size_t n = 0;
  for (const auto& l : *all) {
    auto addr = ip::parse(l.ip);
    if (!addr || !ip::contains(*net, *addr) || !l.listed) continue;
    auto d = delist(l.ip, "allowlisted " + ip::to_string(*net));
    if (!d) return unexpected<Error>(std::move(d).error());
    ++n;
  }
  return n;
}

Result<std::size_t> Listings::purge(std::int64_t keep_days) {
  auto all = store_.listing_all();
  if (!all) return unexpected<Error>(std::move(all).error());
  const std::int64_t now = clock_.now_unix();
  std::size_t n = 0;
  for (const auto& l : *all) {
    if (now < expires_at(l, policy_) + keep_days * 86400) continue;
    // Read again just before removing: a hit since listing_all() keeps it.
    auto fresh = store_.listing_get(l.ip);
    if (!fresh) return unexpected<Error>(std::move(fresh).error());
    if (!*fresh || now < expires_at(**fresh, policy_) + keep_days * 86400) continue;
    auto removed = store_.listing_remove(l.ip);
    if (!removed) return unexpected<Error>(std::move(removed).error());
    BACKSTOP_TRY(store_.record_erase(std::string(kEvidenceKeyPrefix) + l.ip));
    if (*removed) ++n;
  }
  return n;
}

}  // namespace backstop::dnsbl
