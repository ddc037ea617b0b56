// The autoreply gate: whether an automated response written by one of our
// users (out-of-office, challenge, virus notice, subscription confirmation)
// may leave. RFC 3834 §2 and RFC 5230 give the suppression rules; the gate
// adds "only to known correspondents" (the ledger) and "once per period".
//
// The inbound path records, per received message, the few facts the gate
// needs (InboundFacts, keyed by Message-ID, short TTL); the outbound path
// looks them up through the reply's In-Reply-To/References.
// Pure: no I/O; the caller does the store lookups and the once-per-period
// counter. Thread-safety: free functions over values.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mail/header.h"

namespace backstop::outbound {

// Local recipients remembered per inbound message ("was it personal to me").
inline constexpr std::size_t kMaxPersonal = 32;
// Message-IDs of In-Reply-To + References looked up per reply (the newest first).
inline constexpr std::size_t kMaxReferencesLooked = 4;

struct InboundFacts {
  bool list = false;            // List-Id, List-Post, List-Unsubscribe, ... (RFC 2369/2919)
  bool bulk = false;            // Precedence: bulk, list or junk
  bool auto_submitted = false;  // Auto-Submitted other than "no", or X-Auto-Response-Suppress All/OOF
  bool system_sender = false;   // return path null, owner-*, *-request, MAILER-DAEMON, LISTSERV, majordomo
  bool spam = false;            // X-Spam-Flag: YES / X-Spam-Status: Yes, or judged backscatter
  bool dnsbl = false;           // the client was DNSBL-listed (tagged)
  std::vector<std::string> personal;  // local recipients named in To/Cc/Bcc/Resent-* (lower-case)
  friend bool operator==(const InboundFacts&, const InboundFacts&) = default;
};

// Facts of one inbound message from its headers and envelope. `local_rcpts`
// are the envelope recipients in our domains (lower-case).
InboundFacts facts_of(const mail::HeaderList& headers, std::string_view envelope_sender,
                      std::span<const std::string> local_rcpts);
// True for return paths RFC 3834 §2 says not to answer.
bool is_system_address(std::string_view address);

// Compact text form for the store ("flags|addr,addr"); decode: nullopt on damage.
std::string encode(const InboundFacts& f);
std::optional<InboundFacts> decode_facts(std::string_view s);

// Message-IDs (without <>) a reply refers to: In-Reply-To first, then
// References from the newest; at most kMaxReferencesLooked.
std::vector<std::string> referenced_ids(const mail::HeaderList& headers);

enum class AutoKind { kNone, kAutoreply, kChallenge, kVirusNotice, kSubscriptionConfirm };
std::string_view auto_kind_name(AutoKind k);

struct GateInput {
  AutoKind kind = AutoKind::kNone;
  std::string user;       // the local user who answers (lower-case)
  std::string recipient;  // the reply's envelope recipient (lower-case)
  bool recipient_local = false;
  std::optional<InboundFacts> original;  // the message answered, when recorded
  bool correspondent = false;  // the user wrote to the recipient before (ledger)
  bool any_sender = false;     // the user's domain may answer anyone (autoreply.any_sender)
  bool list_host = false;      // the client or sender is a configured list host
  bool challenge_allowed = false;  // autoreply.challenge = "accept"
};

enum class GateAction { kPass, kRefuse, kDiscard };
struct GateDecision {
  GateAction action = GateAction::kPass;
  std::string reason;  // a word for logs and metrics: "stranger", "list", "bulk", ...
  std::string text;    // the user-visible explanation for the SMTP reply
  bool rate_limited_kind = false;  // a pass that must also respect once-per-period
};

// Everything but the once-per-period rule (the caller's store counter).
GateDecision gate(const GateInput& in);

}  // namespace backstop::outbound
