#include "dnsbl/trap.h"

#include "common/text.h"
#include "dnsbl/txt.h"
#include "mail/message.h"
#include "mail/received.h"

namespace backstop::dnsbl {

std::optional<std::string> delivering_ip(const mail::HeaderList& headers, std::span<const ip::Network> ours) {
  std::size_t hops = 0;
  for (const auto& field : headers.fields()) {
    if (!mail::iequals(field.name, "Received")) continue;
    if (++hops > kMaxReceivedHops) break;
    auto r = mail::parse_received(field.value);
    if (!r || r->from_ip.empty()) continue;
    auto addr = ip::parse(r->from_ip);
    if (!addr) continue;
    const bool loopback = addr->v6 ? (addr->bytes == std::array<std::uint8_t, 16>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
                                   : addr->bytes[0] == 127;
    if (loopback) continue;
    bool trusted = false;
    for (const auto& c : ours) {
      if (ip::contains(c, *addr)) {
        trusted = true;
        break;
      }
    }
    if (!trusted) return ip::to_string(*addr);
  }
  return std::nullopt;
}

Result<std::vector<ip::Network>> parse_cidr_list(std::string_view text) {
  std::vector<ip::Network> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < text.size() && text[j] != ',' && text[j] != ' ' && text[j] != '\t' && text[j] != '\n') ++j;
    if (j > i) {
      auto c = ip::parse_network(text.substr(i, j - i));
      if (!c) return unexpected<Error>(std::move(c).error());
      out.push_back(*c);
    }
    i = j;
  }
  return out;
}

TrapMatcher::TrapMatcher(const std::vector<std::string>& addresses, const std::vector<std::string>& domains) {
  for (const auto& a : addresses) addresses_.push_back(text::ascii_lower(text::strip_brackets(a)));
  for (const auto& d : domains) domains_.push_back(text::ascii_lower(d));
}

bool TrapMatcher::matches(std::string_view rcpt) const {
  const std::string addr = text::ascii_lower(text::strip_brackets(rcpt));
  for (const auto& a : addresses_) {
    if (a == addr) return true;
  }
  const auto at = addr.rfind('@');
  if (at == std::string::npos) return false;
  const std::string_view domain = std::string_view(addr).substr(at + 1);
  for (const auto& d : domains_) {
    if (d.empty()) continue;
    if (d.front() == '.') {
      if (domain == std::string_view(d).substr(1) || domain.ends_with(d)) return true;
    } else if (domain == d) {
      return true;
    }
  }
  return false;
}

std::string_view trap_result_name(TrapResult r) noexcept {
  switch (r) {
    case TrapResult::kRecorded: return "recorded";
    case TrapResult::kSpam: return "spam";
    case TrapResult::kUnattributed: return "unattributed";
  }
  return "spam";
}

TrapIngest::TrapIngest(Listings& listings, store::Store& store, const classify::Classifier& classifier,
                       std::vector<ip::Network> relays_ours, TrapEvidence evidence)
    : listings_(listings), store_(store), classifier_(classifier), ours_(std::move(relays_ours)), evidence_(evidence) {}

Result<TrapOutcome> TrapIngest::ingest(std::string_view raw, const mail::Envelope& envelope) {
  auto message = mail::parse_message(raw);
  if (!message) return unexpected<Error>(std::move(message).error());
  const classify::Verdict verdict = classifier_.classify(*message, envelope);
  TrapOutcome out;
  out.kind = verdict.kind;
  if (auto mid = message->headers.get("Message-ID")) {
    const std::string id = sanitize_txt(*mid, store::kMaxMessageIdBytes);
    out.message_id = std::string(text::strip_brackets(id));
  }
  if (verdict.kind == classify::Kind::kNone) {
    out.result = TrapResult::kSpam;
    auto n = store_.counter_add(kTrapSpamCounter, 1, 0);
    if (!n) return unexpected<Error>(std::move(n).error());
    return out;
  }
  std::optional<std::string> ip;
  if (!envelope.client_ip.empty()) {
    auto parsed = ip::parse(envelope.client_ip);
    if (parsed) ip = ip::to_string(*parsed);
  }
  if (!ip) ip = delivering_ip(message->headers, ours_);
  if (!ip) {
    out.result = TrapResult::kUnattributed;
    return out;
  }
  out.ip = *ip;
  store::Evidence ev;
  ev.kind = std::string(classify::kind_name(verdict.kind));
  ev.message_id = out.message_id;
  auto listing = listings_.record_hit(*ip, ev);
  if (!listing) return unexpected<Error>(std::move(listing).error());
  out.result = TrapResult::kRecorded;
  out.listing = std::move(*listing);
  if (evidence_.redactor) {
    EvidenceEntry e;
    e.time = listings_.now();
    e.kind = ev.kind;
    e.headers = evidence_headers(message->headers, *evidence_.redactor, &e.truncated);
    const store::WriteOp op = evidence_append(out.listing->ip, e, listings_.policy(), evidence_.retention_days);
    BACKSTOP_TRY(store_.apply(std::span<const store::WriteOp>(&op, 1)));
  }
  return out;
}

}  // namespace backstop::dnsbl
