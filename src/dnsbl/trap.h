// Spamtrap ingestion (T1): a message that reached a trap is classified; a
// backscatter kind is recorded against the IP that delivered it (Listings);
// plain spam (kind "none") is only counted (store counter "dnsbl:trap:spam")
// and never lists, because this list is about backscatter.
//
// The delivering IP is the connecting client when known (milter:
// mail::Envelope::client_ip), otherwise the first Received hop, newest first,
// whose client IP is outside `relays.ours` (our own MX, filters, internal
// hops) and not loopback.
// Thread-safety: TrapIngest is safe to share when the Store and Classifier are.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "common/result.h"
#include "common/ip.h"
#include "dnsbl/evidence.h"
#include "dnsbl/listings.h"
#include "mail/envelope.h"
#include "mail/header.h"

namespace backstop::dnsbl {

// Received fields looked at per message (a loop can add hundreds).
inline constexpr std::size_t kMaxReceivedHops = 64;
// Store counter for trap hits by plain spam.
inline constexpr std::string_view kTrapSpamCounter = "dnsbl:trap:spam";

// The client IP of the first Received field (top = newest) whose IP is not
// in `ours` and not loopback; nullopt when there is none.
std::optional<std::string> delivering_ip(const mail::HeaderList& headers, std::span<const ip::Network> ours);

// Parses "a, b c" (commas and/or blanks) into CIDRs; kInvalidArgument on the first bad one.
Result<std::vector<ip::Network>> parse_cidr_list(std::string_view text);

// Which envelope recipients are spamtraps: trap.addresses (exact,
// case-insensitive, with or without <>) and trap.domains (every address in
// the domain; ".example.org" also matches its subdomains).
class TrapMatcher {
 public:
  TrapMatcher(const std::vector<std::string>& addresses, const std::vector<std::string>& domains);
  bool matches(std::string_view rcpt) const;
  bool empty() const noexcept { return addresses_.empty() && domains_.empty(); }

 private:
  std::vector<std::string> addresses_;  // lower-cased
  std::vector<std::string> domains_;    // lower-cased
};

enum class TrapResult {
  kRecorded,      // backscatter, counted against `ip`
  kSpam,          // kind none: counted as spam, not listed
  kUnattributed,  // backscatter, but no delivering IP could be found
};
std::string_view trap_result_name(TrapResult r) noexcept;

struct TrapOutcome {
  TrapResult result = TrapResult::kSpam;
  classify::Kind kind = classify::Kind::kNone;
  std::string ip;
  std::string message_id;
  std::optional<store::Listing> listing;  // after the hit, for kRecorded
};

// Evidence kept for each recorded hit (dnsbl/evidence.h).
struct TrapEvidence {
  const Redactor* redactor = nullptr;  // null: no evidence kept; not owned
  std::int64_t retention_days = 90;    // trap.retention_days
};

class TrapIngest {
 public:
  // Not owned; all outlive this object.
  TrapIngest(Listings& listings, store::Store& store, const classify::Classifier& classifier,
             std::vector<ip::Network> relays_ours, TrapEvidence evidence = {});

  // Parses, classifies and records one message, and for a recorded hit its
  // redacted header section as evidence. Errors: kMalformed for bytes that
  // are not a message; store errors as they come.
  Result<TrapOutcome> ingest(std::string_view raw, const mail::Envelope& envelope = {});

 private:
  Listings& listings_;
  store::Store& store_;
  const classify::Classifier& classifier_;
  std::vector<ip::Network> ours_;
  TrapEvidence evidence_;
};

}  // namespace backstop::dnsbl
