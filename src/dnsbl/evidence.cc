#include "dnsbl/evidence.h"

#include <charconv>

#include "common/text.h"

namespace backstop::dnsbl {
namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// `text` with every case-insensitive occurrence of `needle` (lower-case)
// replaced by `with`.
std::string replace_all(std::string_view text, std::string_view needle, std::string_view with) {
  if (needle.empty()) return std::string(text);
  const std::string lower = text::ascii_lower(text);
  std::string out;
  std::size_t from = 0;
  for (std::size_t i = lower.find(needle); i != std::string::npos; i = lower.find(needle, from)) {
    out.append(text.substr(from, i - from));
    out.append(with);
    from = i + needle.size();
  }
  out.append(text.substr(from));
  return out;
}

// `text` with every name ending in `domain` (lower-case) replaced.
std::string replace_domain(std::string_view text, std::string_view domain) {
  if (domain.empty()) return std::string(text);
  const std::string lower = text::ascii_lower(text);
  std::string out;
  std::size_t from = 0;  // text before `from` is already in out
  std::size_t scan = 0;
  for (std::size_t i = lower.find(domain, scan); i != std::string::npos; i = lower.find(domain, scan)) {
    const std::size_t end = i + domain.size();
    scan = i + 1;
    if (end < lower.size() && name_char(lower[end])) continue;  // "trap.example2"
    std::size_t start = i;
    if (start > 0 && name_char(lower[start - 1])) continue;     // "nottrap.example"
    if (start > 0 && lower[start - 1] == '.') {                  // a name inside the domain
      while (start > from && (name_char(lower[start - 1]) || lower[start - 1] == '.')) --start;
    }
    if (start < from) start = from;
    out.append(text.substr(from, start - from));
    out.append(kRedactedDomain);
    from = end;
    scan = end;
  }
  out.append(text.substr(from));
  return out;
}

constexpr std::string_view kEvidenceFormat = "1";
// A kind name is a short word (store::kMaxKindBytes).
bool valid_kind(std::string_view k) {
  if (k.empty() || k.size() > store::kMaxKindBytes) return false;
  for (char c : k)
    if (!name_char(c)) return false;
  return true;
}

}  // namespace

Redactor::Redactor(const std::vector<std::string>& addresses, const std::vector<std::string>& domains) {
  for (const auto& a : addresses) {
    const std::string addr = text::ascii_lower(text::trim(text::strip_brackets(text::trim(a))));
    if (addr.empty()) continue;
    addresses_.push_back(addr);
    if (const auto at = addr.rfind('@'); at != std::string::npos && at > 0) {
      std::string verp = addr;
      verp[at] = '=';
      addresses_.push_back(std::move(verp));
    }
  }
  for (const auto& d : domains) {
    std::string dom = text::ascii_lower(text::trim(d));
    while (!dom.empty() && dom.front() == '.') dom.erase(0, 1);
    if (!dom.empty()) domains_.push_back(std::move(dom));
  }
}

std::string Redactor::redact(std::string_view text) const {
  std::string out(text);
  for (const auto& a : addresses_) out = replace_all(out, a, kRedactedAddress);
  for (const auto& d : domains_) out = replace_domain(out, d);
  return out;
}

std::string evidence_headers(const mail::HeaderList& headers, const Redactor& redactor, bool* truncated) {
  std::string out;
  *truncated = false;
  for (const auto& f : headers.fields()) {
    std::string value = redactor.redact(f.value);
    if (f.value.find("=?") != std::string::npos) {
      const std::string decoded = mail::decode_rfc2047(f.value);
      std::string hidden = redactor.redact(decoded);
      if (hidden != decoded) value = std::move(hidden);
    }
    if (value.size() > kMaxEvidenceFieldBytes) {
      const std::size_t cut = value.size() - kMaxEvidenceFieldBytes;
      value.resize(kMaxEvidenceFieldBytes);
      value += " [... " + std::to_string(cut) + " bytes cut]";
      *truncated = true;
    }
    std::string name = redactor.redact(f.name);
    if (name.size() > kMaxEvidenceFieldBytes) name.resize(kMaxEvidenceFieldBytes);
    std::string line = name + ": " + value + "\n";
    if (out.size() + line.size() > kMaxEvidenceHeaderBytes) {
      *truncated = true;
      break;
    }
    out += line;
  }
  return out;
}

std::string evidence_key(std::string_view canonical_ip) { return std::string(kEvidenceKeyPrefix) + std::string(canonical_ip); }

std::int64_t evidence_expires_at(std::int64_t time, const ListingPolicy& policy, std::int64_t retention_days) {
  return time + longest_listing_seconds(policy) + retention_days * 86400;
}

std::string encode_evidence(const EvidenceEntry& e) {
  return std::string(kEvidenceFormat) + " " + std::to_string(e.time) + " " + (valid_kind(e.kind) ? e.kind : "other") +
         " " + (e.truncated ? "1" : "0") + "\n" + e.headers.substr(0, kMaxEvidenceHeaderBytes);
}

Result<EvidenceEntry> decode_evidence(std::string_view bytes) {
  const auto nl = bytes.find('\n');
  if (nl == std::string_view::npos) return fail(Code::kMalformed, "evidence without a header line");
  std::string_view head = bytes.substr(0, nl);
  EvidenceEntry e;
  e.headers = std::string(bytes.substr(nl + 1));
  if (e.headers.size() > kMaxEvidenceHeaderBytes) return fail(Code::kMalformed, "evidence too long");
  std::string_view parts[4];
  for (int i = 0; i < 4; ++i) {
    const auto sp = i < 3 ? head.find(' ') : head.size();
    if (sp == std::string_view::npos) return fail(Code::kMalformed, "evidence header line");
    parts[i] = head.substr(0, sp);
    head.remove_prefix(i < 3 ? sp + 1 : sp);
  }
  if (parts[0] != kEvidenceFormat) return fail(Code::kMalformed, "evidence format");
  auto [p, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), e.time);
  if (ec != std::errc() || p != parts[1].data() + parts[1].size()) return fail(Code::kMalformed, "evidence time");
  if (!valid_kind(parts[2])) return fail(Code::kMalformed, "evidence kind");
  e.kind = std::string(parts[2]);
  if (parts[3] != "0" && parts[3] != "1") return fail(Code::kMalformed, "evidence flag");
  e.truncated = parts[3] == "1";
  return e;
}

store::RecordAppend evidence_append(std::string_view canonical_ip, const EvidenceEntry& e,
                                    const ListingPolicy& policy, std::int64_t retention_days) {
  store::RecordAppend a;
  a.key = evidence_key(canonical_ip);
  a.item = encode_evidence(e);
  a.max_items = kMaxEvidencePerIp;
  a.max_bytes = kMaxEvidenceBytesPerIp;
  a.expires_at = evidence_expires_at(e.time, policy, retention_days);
  return a;
}

Result<std::vector<EvidenceEntry>> load_evidence(store::Store& store, std::string_view canonical_ip) {
  auto v = store.record_get(evidence_key(canonical_ip));
  if (!v) return unexpected<Error>(std::move(v).error());
  std::vector<EvidenceEntry> out;
  if (!*v) return out;
  auto items = store::record_items(**v);
  if (!items) return out;
  for (auto it = items->rbegin(); it != items->rend(); ++it) {
    if (auto e = decode_evidence(*it)) out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace backstop::dnsbl
