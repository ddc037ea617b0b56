#include "store/internal.h"

#include <algorithm>
#include <string>

#include "common/ip.h"
#include "common/text.h"
#include "store/codec.h"

namespace backstop::store {

Result<std::vector<std::string>> record_items(std::string_view value) { return codec::decode_items(value); }

std::uint64_t Listing::total_hits() const {
  std::uint64_t n = 0;
  for (const auto& [kind, count] : hits) n += count;
  return n;
}

namespace internal {
namespace {

unexpected<Error> bad(std::string msg) { return fail(Code::kInvalidArgument, std::move(msg)); }

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

}  // namespace

Status check_message_id(std::string_view id) {
  if (id.empty()) return bad("empty Message-ID");
  if (id.size() > kMaxMessageIdBytes) return bad("Message-ID longer than " + std::to_string(kMaxMessageIdBytes) + " bytes");
  if (has_nul(id)) return bad("NUL in Message-ID");
  return {};
}

Status check_address(std::string_view what, std::string_view address) {
  if (address.size() > kMaxAddressBytes) return bad(std::string(what) + " longer than 256 bytes");
  if (has_nul(address)) return bad("NUL in " + std::string(what));
  return {};
}

Status check_ledger_entry(const LedgerEntry& e) {
  BACKSTOP_TRY(check_address("sender", e.sender));
  if (e.recipients.size() > kMaxLedgerRecipients) return bad("too many recipients");
  for (const auto& r : e.recipients) BACKSTOP_TRY(check_address("recipient", r));
  if (e.envid.size() > kMaxEnvidBytes) return bad("ENVID longer than " + std::to_string(kMaxEnvidBytes) + " bytes");
  if (has_nul(e.envid)) return bad("NUL in ENVID");
  return {};
}

Status check_ledger_find(const LedgerFind& q) {
  if (q.value.empty()) return bad("empty ledger key");
  const std::size_t max = q.key == LedgerKey::kRecipient ? kMaxAddressBytes : kMaxEnvidBytes;
  if (q.value.size() > max) return bad("ledger key longer than " + std::to_string(max) + " bytes");
  if (has_nul(q.value)) return bad("NUL in ledger key");
  return {};
}

std::vector<std::string> ledger_index_values(const LedgerEntry& e) {
  std::vector<std::string> out;
  out.reserve(e.recipients.size() + 1);
  for (const auto& r : e.recipients) {
    if (!r.empty()) out.push_back("r" + text::ascii_lower(r));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (!e.envid.empty()) out.push_back("e" + e.envid);
  return out;
}

std::string ledger_index_value(const LedgerFind& q) {
  return q.key == LedgerKey::kRecipient ? "r" + text::ascii_lower(q.value) : "e" + q.value;
}

bool ledger_answers(const LedgerEntry& e, const LedgerFind& q) {
  if (e.time < q.from || e.time > q.to) return false;
  if (q.key == LedgerKey::kEnvid) return !e.envid.empty() && e.envid == q.value;
  return std::any_of(e.recipients.begin(), e.recipients.end(),
                     [&](const std::string& r) { return text::iequals(r, q.value); });
}

Status check_key(std::string_view key) {
  if (key.empty()) return bad("empty key");
  if (key.size() > kMaxKeyBytes) return bad("key longer than " + std::to_string(kMaxKeyBytes) + " bytes");
  return {};
}

Status check_record(std::string_view key, std::string_view value) {
  BACKSTOP_TRY(check_key(key));
  if (value.size() > kMaxRecordBytes) return bad("record larger than " + std::to_string(kMaxRecordBytes) + " bytes");
  return {};
}

Status check_update_keys(std::span<const std::string> keys) {
  if (keys.empty() || keys.size() > kMaxUpdateKeys) {
    return bad("records_update takes 1 to " + std::to_string(kMaxUpdateKeys) + " keys");
  }
  for (const auto& k : keys) BACKSTOP_TRY(check_key(k));
  return {};
}

Status check_window_specs(std::span<const WindowSpec> windows, std::int64_t max_exact) {
  if (windows.empty() || windows.size() > kMaxNativeWindows) {
    return bad("check_and_count takes 1 to " + std::to_string(kMaxNativeWindows) + " windows");
  }
  for (const auto& w : windows) {
    BACKSTOP_TRY(check_key(w.key));
    BACKSTOP_TRY(check_key(w.alert_key));
    if (w.seconds < 1 || w.seconds > kMaxWindowStateSeconds) return bad("window of " + w.key + ": bad length");
    if (w.step < 1 || w.step > w.seconds) return bad("window of " + w.key + ": bad step");
    const std::int64_t max_limit = w.kind == WindowSpec::Kind::kDistinct ? kMaxNativeDistinct - 1 : max_exact;
    if (w.limit < 1 || w.limit > max_limit) return bad("window of " + w.key + ": limit out of range");
    if (w.kind == WindowSpec::Kind::kCount && (w.amount < 0 || w.amount > max_exact)) {
      return bad("window of " + w.key + ": amount out of range");
    }
  }
  return {};
}

Status check_read_batch(const ReadBatch& batch) {
  if (batch.count() > kMaxBatchReads) {
    return bad("read_batch takes at most " + std::to_string(kMaxBatchReads) + " reads");
  }
  for (const auto& id : batch.ledger_ids) BACKSTOP_TRY(check_message_id(id));
  for (const auto& q : batch.ledger_finds) BACKSTOP_TRY(check_ledger_find(q));
  for (const auto& [local, external] : batch.correspondents) BACKSTOP_TRY(check_correspondent(local, external));
  return {};
}

Status check_update_changes(std::span<const std::string> keys, std::span<const RecordChange> changes) {
  if (changes.size() != keys.size()) return bad("records_update: one change per key");
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (changes[i].op == RecordChange::Op::kPut) BACKSTOP_TRY(check_record(keys[i], changes[i].value));
  }
  return {};
}

Status check_evidence(const Evidence& e) {
  if (e.kind.empty() || e.kind.size() > kMaxKindBytes) return bad("bad listing kind");
  if (e.message_id.size() > kMaxMessageIdBytes) return bad("evidence Message-ID too long");
  return {};
}

Status check_correspondent(std::string_view local, std::string_view external) {
  if (local.empty() || external.empty()) return bad("empty correspondent address");
  BACKSTOP_TRY(check_address("local address", local));
  return check_address("external address", external);
}

Status check_op(const WriteOp& op) {
  if (auto* p = std::get_if<LedgerPut>(&op)) {
    BACKSTOP_TRY(check_message_id(p->message_id));
    return check_ledger_entry(p->entry);
  }
  if (auto* p = std::get_if<CorrespondentSeen>(&op)) return check_correspondent(p->local, p->external);
  if (auto* p = std::get_if<RecordPut>(&op)) return check_record(p->key, p->value);
  if (auto* p = std::get_if<RecordErase>(&op)) return check_key(p->key);
  if (std::holds_alternative<LedgerFirstTime>(op)) return {};
  if (auto* p = std::get_if<CounterPut>(&op)) return check_key(p->key);
  if (auto* p = std::get_if<ListingPut>(&op)) {
    auto addr = ip::parse(p->listing.ip);
    if (!addr) return unexpected<Error>(std::move(addr).error());
    return {};
  }
  if (auto* p = std::get_if<AllowlistAdd>(&op)) {
    auto net = ip::parse_network(p->cidr);
    if (!net) return unexpected<Error>(std::move(net).error());
    return {};
  }
  if (auto* p = std::get_if<RecordAppend>(&op)) {
    BACKSTOP_TRY(check_key(p->key));
    if (p->max_items == 0 || p->max_bytes == 0 || p->max_bytes > kMaxRecordBytes)
      return bad("record append: bad bounds");
    return {};
  }
  const auto& h = std::get<ListingHit>(op);
  auto addr = ip::parse(h.ip);
  if (!addr) return unexpected<Error>(std::move(addr).error());
  return check_evidence(h.evidence);
}

std::string append_item(const std::optional<std::string>& current, const RecordAppend& a) {
  std::vector<std::string> items;
  if (current) {
    if (auto old = codec::decode_items(*current)) items = std::move(*old);
  }
  items.push_back(a.item);
  std::size_t drop = items.size() > a.max_items ? items.size() - a.max_items : 0;
  for (;;) {
    std::vector<std::string> kept(items.begin() + static_cast<std::ptrdiff_t>(drop), items.end());
    std::string value = codec::encode_items(kept);
    if (value.size() <= a.max_bytes || kept.empty()) return value;
    ++drop;
  }
}

void apply_hit(Listing& l, const Evidence& e, bool allowlisted) {
  const bool known_kind = l.hits.contains(e.kind);
  const std::string kind = known_kind || l.hits.size() < kMaxKindsPerListing - 1 ? e.kind : "other";
  ++l.hits[kind];
  if (l.first_seen == 0 || e.time < l.first_seen) l.first_seen = e.time;
  if (e.time >= l.last_seen) {
    l.last_seen = e.time;
    l.last_evidence = e;
  }
  l.listed = !allowlisted;
}

std::string correspondent_key(std::string_view local, std::string_view external) {
  std::string k(local);
  k.push_back('\0');
  k.append(external);
  return k;
}

const Clock& clock_of(const Options& o) { return o.clock ? *o.clock : system_clock(); }

}  // namespace internal

Result<ReadBatchResult> Store::read_batch(const ReadBatch& batch) {
  BACKSTOP_TRY(internal::check_read_batch(batch));
  ReadBatchResult out;
  out.ledger.reserve(batch.ledger_ids.size());
  for (const auto& id : batch.ledger_ids) {
    auto e = ledger_get(id);
    BACKSTOP_TRY(e);
    out.ledger.push_back(std::move(*e));
  }
  out.finds.reserve(batch.ledger_finds.size());
  for (const auto& q : batch.ledger_finds) {
    auto f = ledger_find(q);
    BACKSTOP_TRY(f);
    out.finds.push_back(std::move(*f));
  }
  if (batch.ledger_first_time) {
    auto t = ledger_first_time();
    BACKSTOP_TRY(t);
    out.first_time = *t;
  }
  out.correspondents.reserve(batch.correspondents.size());
  for (const auto& [local, external] : batch.correspondents) {
    auto t = correspondent_last_seen(local, external);
    BACKSTOP_TRY(t);
    out.correspondents.push_back(*t);
  }
  return out;
}

}  // namespace backstop::store
