// BATV "prvs" bounce address tags, Exim-compatible on the wire
// (docs/reference/protocols.md §1.3):
//   prvs=KDDDhhhhhh=local@domain
// K = key digit 0-9 (rotation), DDD = (sign day + lifetime) mod 1000 — the day
// the tag expires —, hhhhhh = first 3 bytes of HMAC-SHA1(secret, K·DDD·local@domain)
// in lower-case hex. Verification is stricter than Exim's: valid iff the hash
// matches (hex compared case-insensitively, in constant time) and
// (DDD − today mod 1000 + 1000) mod 1000 ≤ lifetime.
//
// Everything here is pure (no I/O, no clock: callers pass the UTC day number)
// and thread-safe for concurrent const use.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace backstop::batv {

// Exim refuses HMAC keys longer than one SHA-1 block; so do we, to stay compatible.
inline constexpr std::size_t kMaxSecretBytes = 64;
// RFC 5321 §4.5.3.1.3: a reverse/forward path is at most 256 octets; longer
// input is not an address and is not parsed further.
inline constexpr std::size_t kMaxAddressBytes = 256;
// The draft's recommended (and Exim's fixed) tag lifetime.
inline constexpr int kDefaultLifetimeDays = 7;
// DDD is three digits: a lifetime must stay well inside the 1000-day cycle.
inline constexpr int kMaxLifetimeDays = 365;

enum class Verdict {
  kValid,        // our tag, right hash, inside its lifetime
  kExpired,      // our tag, right hash, outside its lifetime
  kBadHash,      // prvs form with a hash our key does not produce
  kNotTagged,    // no BATV tag at all
  kForeignForm,  // another system's tag form (btv1, msprvs1, old prvs=local=tag)
  kUnknownKey,   // prvs form whose key digit we hold no secret for
  kMalformed,    // not an address, or a prvs tag that does not parse
};

// "valid", "expired", "bad-hash", "not-tagged", "foreign-form", "unknown-key", "malformed".
std::string_view verdict_name(Verdict v);

// Up to ten secrets indexed by key digit; several are valid at once during a
// rotation. One of them is the signing key.
class KeyRing {
 public:
  // kInvalidArgument if `key` is not 0-9, the secret is longer than
  // kMaxSecretBytes, or the digit already has a secret.
  Status add(int key, std::string secret);
  // The secret for `key`, or null.
  const std::string* find(int key) const;
  bool empty() const;
  // The digit new tags are signed with; nullopt when the ring is empty.
  std::optional<int> signing_key() const;
  // kInvalidArgument unless the ring holds `key`.
  Status set_signing_key(int key);

 private:
  std::array<std::optional<std::string>, 10> secrets_;
  std::optional<int> signing_;
};

// How an address is tagged. Views point into the parsed input.
enum class Form { kNone, kPrvs, kForeign, kMalformed };
struct Parsed {
  Form form = Form::kNone;
  int key = -1;                // kPrvs: the key digit
  int ddd = -1;                // kPrvs: expiry day mod 1000
  std::string_view hash;       // kPrvs: the 6 hex digits as received
  std::string_view local;      // the original local part (tag removed) when known
  std::string_view domain;     // after the last '@'
  std::string_view scheme;     // "prvs", "prvs-old", "btv1", "msprvs1"
};

// Recognises our prvs form and the foreign forms. Bounded by kMaxAddressBytes.
Parsed parse(std::string_view address);

// True if the local part already carries a tag in the draft's meta-syntax
// (`[A-Za-z0-9-]+=[A-Za-z0-9-]+=...`) or a foreign form: such an address is never tagged again.
bool looks_tagged(std::string_view address);

// DDD for a tag signed on `day` (UTC day number) with `lifetime` days.
int expiry_stamp(std::int64_t day, int lifetime);

// The Exim primitive, ${prvs{address}{secret}{key}} with a given DDD: no policy
// checks beyond Exim's own (address has "local@domain", key 0-9, ddd 0-999,
// secret <= 64 bytes; otherwise kInvalidArgument).
Result<std::string> sign_raw(std::string_view secret, int key, int ddd, std::string_view address);

struct Verification {
  Verdict verdict = Verdict::kMalformed;
  std::string address;  // the untagged address (the input if not tagged)
  int key = -1;         // the key digit, for prvs forms
};

struct VerifyOptions {
  int lifetime = kDefaultLifetimeDays;
  // Extra days accepted after expiry, for clock skew between signer and verifier.
  int grace_days = 0;
};

// Verifies `address` (an envelope recipient of a bounce) on UTC day `today`.
Verification verify(const KeyRing& keys, std::string_view address, std::int64_t today,
                    const VerifyOptions& options = {});

// Signing policy for outbound envelope senders.
struct SignerConfig {
  // Domains we sign for, compared case-insensitively and exactly (no subdomains).
  // Empty = sign for any domain (the CLI without --domain).
  std::vector<std::string> domains;
  int lifetime = kDefaultLifetimeDays;
};

// kTooLong: the tagged address would exceed kMaxAddressBytes (then no verifier,
// ours included, would accept it).
enum class SignStatus { kSigned, kAlreadyTagged, kNullSender, kForeignDomain, kMalformed, kNoKey, kTooLong };
std::string_view sign_status_name(SignStatus s);

struct SignResult {
  SignStatus status = SignStatus::kMalformed;
  std::string address;  // the tagged address, or the input unchanged
};

// Tags `address` with the ring's signing key, or leaves it unchanged and says
// why (null sender, already tagged, not one of our domains, not an address).
SignResult sign(const KeyRing& keys, const SignerConfig& config, std::string_view address,
                std::int64_t today);

}  // namespace backstop::batv
