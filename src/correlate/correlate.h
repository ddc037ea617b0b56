// The correlator: does a classified automated response answer mail our users
// really sent? Evidence, strongest first (DESIGN.md §3 I2, docs/correlation.md):
//   1. a BATV tag on the envelope recipient (valid: ours; bad hash or
//      expired: not ours);
//   2. a referenced Message-ID in the outbound ledger (found: ours; all
//      referenced ids missing: not ours, but only after the ledger warm-up);
//   3. a DSN's Original-Envelope-Id in the ledger (found: ours; missing:
//      shown, proves nothing);
//   4. a DSN's recipients (Original-/Final-Recipient) in the ledger, sent
//      by the bounce's recipient within the recipient window before its
//      Arrival-Date (else its Date, else now): ours; none: weak evidence
//      against, shown and never deciding (forwarding rewrites recipients);
//   5. the original's Received chain: ours only when consistent (the
//      topmost hop that records a receipt names one of our relays by IP or
//      reverse DNS, or a hop in our relays' own format sits at or above it);
//      a chain that names our relays inconsistently proves nothing; a chain
//      that never names them: not ours;
//   6. the responder being a known correspondent of the recipient (ours).
// Verdict: ours if any evidence says ours, else not_ours if any says not
// ours, else unknown. Every piece of evidence is returned for logs and
// `backstop check`.
// Thread-safety: a Correlator is immutable after construction; correlate()
// is safe to call concurrently if the Store and TagVerifier are.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "classify/verdict.h"
#include "common/clock.h"
#include "common/ip.h"
#include "common/result.h"
#include "mail/envelope.h"
#include "mail/message.h"
#include "mail/received.h"
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

// The Received format our relays write, for the relay rule's own-hop case.
enum class ReceivedFormat {
  kAny,       // any hop whose by-host matches relays.ours
  kPostfix,   // "by HOST (Postfix...) with (E)SMTP/LMTP... id QUEUEID"
  kExim,      // "by HOST with esmtp... (Exim N) id XXXXXX-XXXXXX-XX"
  kSendmail,  // "by HOST (8.x/8.x) with (E)SMTP id QUEUEID"
};
// "any", "postfix", "exim", "sendmail"; false for anything else.
bool parse_received_format(std::string_view name, ReceivedFormat* out) noexcept;
// Whether `hop` is in format `f`.
bool in_format(const mail::Received& hop, ReceivedFormat f);

// Clock skew allowed between our ledger times and a DSN's dates: hosts
// without NTP drift minutes, and a wrong zone in a Date is an hour or more.
inline constexpr std::int64_t kClockSkewSeconds = 2 * 3600;
// DSN recipients looked up in the ledger (two addresses each): a DSN for
// one message names a few; a longer list is a mass bounce, and its first
// recipients answer as well as all of them.
inline constexpr std::size_t kMaxRecipientKeys = 8;

struct Settings {
  std::vector<std::string> local_domains;  // lower-case; ".suffix" = subdomains
  RelaySet relays;
  ReceivedFormat received_format = ReceivedFormat::kPostfix;
  std::int64_t warmup_seconds = 7 * 86400;
  // How long before a DSN's Arrival-Date our message to its recipient may
  // have been sent (our queue's lifetime, Postfix's maximal_queue_lifetime
  // is 5 days, plus slack); twice that before its Date (the remote's queue
  // too). At most ledger_ttl_seconds.
  std::int64_t recipient_window_seconds = 6 * 86400;
  std::int64_t ledger_ttl_seconds = 30 * 86400;  // store::Options::ledger_ttl
};

struct Evidence {
  // "batv", "ledger", "envid", "recipient", "relay", "correspondent", "warmup"
  std::string source;
  Verdict points_to;    // what this evidence says on its own
  std::string detail;   // human-readable, e.g. "message-id <x@y> found"
};

struct Outcome {
  Verdict verdict = Verdict::kUnknown;
  std::vector<Evidence> evidence;
};

class Correlator {
 public:
  // When a DSN's original may have been sent: [from, to], and what it is
  // measured from ("Arrival-Date ...", "Date ...", "its arrival here").
  struct Window {
    std::int64_t from = 0;
    std::int64_t to = 0;
    std::string basis;
  };
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

  // correlate() in two halves, for a caller that reads the store itself
  // (an event loop over a remote store): plan() does the BATV checks and
  // gathers the store reads; conclude() judges the evidence from what those
  // reads found. correlate() == conclude(plan(), read_batch(plan().batch)),
  // the batch read in pieces of at most store::kMaxBatchReads.
  struct Plan {
    Outcome partial;          // the BATV evidence
    store::ReadBatch batch;   // the reads; none when reads() is false
    bool reads() const { return batch.count() > 0; }
    // What conclude() needs of the message besides the reads' results.
    std::vector<std::string> ids;        // quoted Message-IDs (all, storable or not)
    std::size_t envids = 0;              // the first ledger_finds are the ENVID's forms
    std::vector<std::string> dsn_rcpts;  // the DSN recipients looked up, after them
    Window window;
    std::string responder;
    std::vector<std::string> rcpts;      // the local recipients of batch.correspondents, as sent
  };
  Plan plan(const classify::Verdict& verdict, const mail::Envelope& envelope,
            const mail::Message* message = nullptr) const;
  // `found`: the reads of plan.batch (ignored when !plan.reads()); an error
  // in it is kUnavailable as correlate()'s. The same verdict, envelope and
  // message as plan() was given.
  Result<Outcome> conclude(Plan plan, Result<store::ReadBatchResult> found, const classify::Verdict& verdict,
                           const mail::Envelope& envelope, const mail::Message* message = nullptr) const;

  // True if `address` is in one of our domains.
  bool is_local(std::string_view address) const;

 private:
  // Ledger evidence from the entries found for `asked` (the storable ones
  // of `ids`) and the ledger's first time.
  void check_ledger(const std::vector<std::string>& ids, const std::vector<std::string>& asked,
                    const store::ReadBatchResult& found, Outcome* out) const;
  void check_relays(const classify::Verdict& v, const mail::Message* m, Outcome* out) const;
  Window recipient_window(const classify::References& refs, std::int64_t now) const;
  // The DSN's recipient addresses to look up, lower-cased, each once.
  static std::vector<std::string> recipient_keys(const classify::References& refs);
  void check_envid(std::string_view value, std::span<const std::vector<store::LedgerItem>> found, Outcome* out) const;
  void check_recipients(const classify::References& refs, const mail::Envelope& envelope, const Window& window,
                        const std::vector<std::string>& asked,
                        std::span<const std::vector<store::LedgerItem>> found,
                        std::optional<std::int64_t> first_time, Outcome* out) const;
  // What one Received chain (newest first) says: see the header comment.
  enum class Chain { kNone, kOurs, kInconsistent, kForeign };
  Chain judge_chain(const std::vector<mail::Received>& hops, const std::string& reporting_mta,
                    std::string* detail) const;
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
// The same hops, whole.
std::vector<mail::Received> inline_received_hops(std::string_view text);

// The address of a recipient as its owner wrote it: a BATV (prvs) tag
// removed ("prvs=0123456789=alice@example.org" -> "alice@example.org"),
// lower-cased.
std::string untagged(std::string_view rcpt);

}  // namespace backstop::correlate
