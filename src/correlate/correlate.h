// The correlator: does a classified automated response answer mail our users
// really sent? Evidence, strongest first (DESIGN.md §3 I2):
//   1. a BATV tag on the envelope recipient (valid: ours; bad hash or
//      expired: not ours);
//   2. a referenced Message-ID in the outbound ledger (found: ours; all
//      referenced ids missing: not ours, but only after the ledger warm-up);
//   3. the embedded original's Received chain passing through one of our
//      relays (SpamAssassin's whitelist_bounce_relays idea; a chain that
//      never touches them: not ours);
//   4. the responder being a known correspondent of the recipient (ours).
// Verdict: ours if any evidence says ours, else not_ours if any says not
// ours, else unknown. Every piece of evidence is returned for logs and
// `backstop check`.
// Thread-safety: a Correlator is immutable after construction; correlate()
// is safe to call concurrently if the Store and TagVerifier are.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "classify/verdict.h"
#include "common/clock.h"
#include "common/ip.h"
#include "common/result.h"
#include "mail/envelope.h"
#include "mail/message.h"
#include "store/store.h"

namespace backstop::correlate {

enum class Verdict { kOurs, kNotOurs, kUnknown };
std::string_view verdict_name(Verdict v) noexcept;  // "ours", "not_ours", "unknown"

// What a BATV check of one recipient found. Implemented over batv::KeyRing by
// the caller (batv_adapter.h), or by a fake in tests.
enum class TagStatus { kValid, kInvalid, kExpired, kNone };
class TagVerifier {
 public:
  virtual ~TagVerifier() = default;
  // Checks the tag on `rcpt` (an address of our domains).
  virtual TagStatus verify(std::string_view rcpt) const = 0;
};

// Host-name and network patterns for relays.ours: "mx.example.org" (exact),
// ".example.org" or "*.example.org" (any subdomain), "smtp*.example.org"
// (shell-style * within a label sequence), "192.0.2.0/24" or an address.
class RelaySet {
 public:
  static Result<RelaySet> parse(const std::vector<std::string>& patterns);
  bool empty() const noexcept { return names_.empty() && networks_.empty(); }
  bool matches_host(std::string_view host) const;
  bool matches_ip(std::string_view ip) const;

 private:
  std::vector<std::string> names_;  // lower-case patterns
  std::vector<ip::Network> networks_;
};

struct Settings {
  std::vector<std::string> local_domains;  // lower-case; ".suffix" = subdomains
  RelaySet relays;
  std::int64_t warmup_seconds = 7 * 86400;
};

struct Evidence {
  std::string source;   // "batv", "ledger", "relay", "correspondent", "warmup"
  Verdict points_to;    // what this evidence says on its own
  std::string detail;   // human-readable, e.g. "message-id <x@y> found"
};

struct Outcome {
  Verdict verdict = Verdict::kUnknown;
  std::vector<Evidence> evidence;
};

class Correlator {
 public:
  // `store`, `tags` and `clock` are not owned and must outlive the Correlator;
  // `tags` may be null (no BATV).
  Correlator(Settings settings, store::Store* store, const TagVerifier* tags, const Clock* clock);

  // Judges one classified message with the SMTP envelope it came with (its
  // recipients and sender are read whatever `envelope.known` says).
  // `message` (may be null) lets the relay rule read Received lines quoted
  // inline in the body. kUnavailable when the store fails (the caller answers
  // 4xx, never 5xx).
  Result<Outcome> correlate(const classify::Verdict& verdict, const mail::Envelope& envelope,
                            const mail::Message* message = nullptr) const;

  // True if `address` is in one of our domains.
  bool is_local(std::string_view address) const;

 private:
  // Ledger evidence from the entries found for `asked` (the storable ones
  // of `ids`) and the ledger's first time.
  void check_ledger(const std::vector<std::string>& ids, const std::vector<std::string>& asked,
                    const store::ReadBatchResult& found, Outcome* out) const;
  void check_relays(const classify::Verdict& v, const mail::Message* m, Outcome* out) const;
  // Who answered: the response's From, else its envelope sender, lower-cased;
  // "" when neither is an address.
  std::string responder_of(const mail::Envelope& e, const mail::Message* m) const;

  Settings settings_;
  store::Store* store_;
  const TagVerifier* tags_;
  const Clock* clock_;
};

// Received-header host names and IPs quoted inline in `text` ("Received: from
// x (y [1.2.3.4]) by z ..."), in order, at most kMaxInlineReceived.
inline constexpr std::size_t kMaxInlineReceived = 64;  // longer chains are loops
struct InlineHop {
  std::string by;
  std::string from_helo;
  std::string from_rdns;
  std::string from_ip;
};
std::vector<InlineHop> inline_received(std::string_view text);

}  // namespace backstop::correlate
