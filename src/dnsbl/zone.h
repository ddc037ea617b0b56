// DNSBL zones as configured, the result of looking an IP up in them, and the
// SMTP consequence of that result. Pure. Thread-safety: value types.
//
// A zone answers with A records in 127.0.0.0/8 (RFC 5782 §2.1); each zone
// has a map from those codes to meanings and one action. A lookup error
// (timeout, SERVFAIL, truncated or malformed answer, A outside 127/8 or in
// 127.255.255.0/24, which operators use for "you are over quota") is never a
// listing: decide() accepts on every error.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace backstop::dnsbl {

enum class Action {
  kReject,  // listed -> 554 5.7.1 at MAIL
  kTag,     // listed -> a header on the message
  kScore,   // listed -> only a score for the classifier/policy, no header
};
std::string_view action_name(Action a) noexcept;
// "reject", "tag", "score"; kInvalidArgument otherwise.
Result<Action> parse_action(std::string_view name);

struct ZoneConfig {
  std::string name;                 // e.g. "ips.backscatterer.org"
  Action action = Action::kReject;
  double score = 0.0;               // added by a listing in a kScore or kTag zone
  // "127.0.0.2" -> "backscatter". Empty: every code in 127/8 (but not
  // 127.0.0.1, ignored, nor 127.255.255.x, an error) means listed. Non-empty: only codes in the map list; other
  // codes are reported in ZoneResult::ignored_codes and do not list.
  std::map<std::string, std::string> codes;
  bool query_txt = true;            // fetch the TXT reason when listed
  // Reply text for kReject; "%txt%" becomes the zone's TXT (or the code's
  // meaning when there is none). Empty: the default text (see decide()).
  std::string message;
};

enum class LookupStatus { kNotListed, kListed, kError };
enum class LookupError { kNone, kTimeout, kServfail, kTruncated, kMalformed, kRefused, kOther };
std::string_view status_name(LookupStatus s) noexcept;
std::string_view error_name(LookupError e) noexcept;

struct ZoneResult {
  std::string zone;
  Action action = Action::kReject;
  double score = 0.0;
  LookupStatus status = LookupStatus::kNotListed;
  LookupError error = LookupError::kNone;
  std::vector<std::string> codes;          // listing codes, "127.0.0.2"
  std::vector<std::string> meanings;       // one per code
  std::vector<std::string> ignored_codes;  // 127/8 codes not in the zone's map
  std::string txt;                         // sanitised TXT (<= kMaxTxtBytes), may be empty
  std::string message;                     // the zone's reply template (ZoneConfig::message)
  std::string detail;                      // why an error happened
  bool from_cache = false;
};

struct CheckResult {
  bool queried = false;  // false: safe mode skipped the lookup, or no zones
  std::string ip;        // canonical text of the client IP
  std::vector<ZoneResult> zones;  // in configuration order
  bool listed() const noexcept;   // any zone kListed
};

// What the MTA front end does with a CheckResult.
struct SmtpDecision {
  enum class Verdict { kAccept, kTag, kReject };
  Verdict verdict = Verdict::kAccept;
  std::string reply_code;     // "554" when kReject
  std::string status_code;    // "5.7.1" when kReject
  std::string text;           // reply text without the codes (sanitised, bounded)
  std::string header_name;    // "X-Backstop-DNSBL" when kTag
  std::string header_value;   // sanitised, bounded
  double score = 0.0;         // sum over listed kTag/kScore zones
  std::string reply() const;  // "554 5.7.1 <text>" or "" when not kReject
};

// Header added for tag zones.
inline constexpr std::string_view kDnsblHeader = "X-Backstop-DNSBL";
// A header value stays on one 998-octet line with room for the name.
inline constexpr std::size_t kMaxHeaderValueBytes = 900;

// The first listed kReject zone (configuration order) rejects with
//   554 5.7.1 Service unavailable; client [IP] blocked using ZONE; TXT
// (TXT when the zone sent one, else the code's meaning), or the zone's own
// message with %txt% replaced; otherwise any listed
// kTag zones give one header "zone=...; code=...; meaning=..." joined by ", ".
// Errors and not-listed zones accept.
SmtpDecision decide(const CheckResult& result);

// Safe mode (backscatterer.org usage advice): query only for the null sender
// ("" or "<>") or a sender whose local part is "postmaster" (any case).
// With safe mode off, always query.
bool should_query(bool safe_mode, std::string_view mail_from) noexcept;

// Interprets one A answer for `zone`: fills status, codes, meanings,
// ignored_codes (and error/detail for out-of-range codes).
void interpret_codes(const ZoneConfig& zone, const std::vector<std::array<std::uint8_t, 4>>& a,
                     ZoneResult* out);

}  // namespace backstop::dnsbl
