// The evidence behind a trap listing, as the lookup page shows it: the
// header sections of the last few trapped messages from an IP, with every
// trap address and trap domain redacted (showing them would burn the trap).
// Kept at ingestion (the milter's trap role, `trap ingest`) in one store
// record per IP, "dnsbl:evidence:<ip>", written with store::RecordAppend so
// it is bounded in count and bytes and rides in the same batch as the hit;
// it expires after the longest listing the IP can have (plus the retention
// of trap.retention_days) and Listings::purge() removes it with the listing.
// Thread-safety: Redactor is immutable after construction; functions are
// stateless.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "dnsbl/listings.h"
#include "mail/header.h"
#include "store/store.h"

namespace backstop::dnsbl {

// Messages kept per IP: "the last few" — enough to show a pattern (one
// misconfigured autoresponder, or a flood of bounces), not an archive.
inline constexpr std::size_t kMaxEvidencePerIp = 5;
// Header bytes kept per message: real header sections are 2-6 KiB; a longer
// one is cut at a field boundary and marked truncated.
inline constexpr std::size_t kMaxEvidenceHeaderBytes = 8 * 1024;
// Bytes kept of one field's value: a Received or DKIM field is < 1 KiB; a
// longer one is cut (and marked) so that one huge field cannot push the
// rest of the header section out of the evidence.
inline constexpr std::size_t kMaxEvidenceFieldBytes = 1024;
// Bytes per IP (the record's value), below store::kMaxRecordBytes (64 KiB):
// five full entries fit; the oldest go first when they do not.
inline constexpr std::size_t kMaxEvidenceBytesPerIp = 5 * (kMaxEvidenceHeaderBytes + 64);
static_assert(kMaxEvidenceBytesPerIp <= store::kMaxRecordBytes);

// What replaces a trap address or domain in the evidence.
inline constexpr std::string_view kRedactedAddress = "[trap address]";
inline constexpr std::string_view kRedactedDomain = "[trap domain]";

// Replaces the trap addresses (trap.addresses) and trap domains
// (trap.domains) in text, ASCII case-insensitively:
//  - an address "local@domain", also as "local=domain" (VERP, SRS, BATV);
//  - a domain as a whole name or as the end of a longer one (a host in it,
//    "mx.trap.example"), whether or not the configured entry starts with '.';
//    "nottrap.example" is another domain and stays.
class Redactor {
 public:
  Redactor(const std::vector<std::string>& addresses, const std::vector<std::string>& domains);
  std::string redact(std::string_view text) const;
  bool empty() const noexcept { return addresses_.empty() && domains_.empty(); }

 private:
  std::vector<std::string> addresses_;  // lower-case "local@domain" and "local=domain"
  std::vector<std::string> domains_;    // lower-case, without a leading '.'
};

struct EvidenceEntry {
  std::int64_t time = 0;   // unix seconds of the hit
  std::string kind;        // classify kind name
  std::string headers;     // "Name: value\n" per field, redacted, unfolded
  bool truncated = false;  // cut at kMaxEvidenceHeaderBytes
  friend bool operator==(const EvidenceEntry&, const EvidenceEntry&) = default;
};

// The header section as evidence: one line per field, value unfolded and
// redacted. A value whose RFC 2047 encoded words hide a trap address or
// domain is shown decoded (and redacted) instead of raw. A value over
// kMaxEvidenceFieldBytes is cut with "[... N bytes cut]"; the whole is at
// most kMaxEvidenceHeaderBytes, whole fields only. *truncated is set when
// anything was cut or left out.
std::string evidence_headers(const mail::HeaderList& headers, const Redactor& redactor, bool* truncated);

// "dnsbl:evidence:<ip>" for a canonical IP text.
std::string evidence_key(std::string_view canonical_ip);
// The record's expiry for a hit at `time`: the longest listing plus the retention.
std::int64_t evidence_expires_at(std::int64_t time, const ListingPolicy& policy, std::int64_t retention_days);

std::string encode_evidence(const EvidenceEntry& e);
// kMalformed for bytes encode_evidence did not write.
Result<EvidenceEntry> decode_evidence(std::string_view bytes);

// The write that keeps `e` for `canonical_ip` (bounded as above).
store::RecordAppend evidence_append(std::string_view canonical_ip, const EvidenceEntry& e,
                                    const ListingPolicy& policy, std::int64_t retention_days);

// The kept entries, newest first; damaged entries are skipped (an empty
// list when the record is absent, expired or damaged). Store errors as they come.
Result<std::vector<EvidenceEntry>> load_evidence(store::Store& store, std::string_view canonical_ip);

}  // namespace backstop::dnsbl
