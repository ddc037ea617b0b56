// What the classifier says about one message: the kind of automated response,
// the confidence, the signals that fired and the references to the original
// message it answers. Produced by classify::Classifier (classifier.h);
// consumed by correlate, policy, milter, scan and trap ingestion.
// Thread-safety: a value type.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mail/received.h"

namespace backstop::classify {

enum class Kind { kNone, kBounce, kVirusNotice, kChallenge, kSubscriptionConfirm, kAutoreply };

// "none", "bounce", "virus_notice", "challenge", "subscription_confirm", "autoreply"
std::string_view kind_name(Kind k) noexcept;
// Inverse of kind_name; false when `name` is not a kind.
bool parse_kind(std::string_view name, Kind* out) noexcept;

// One recipient entry of a DSN (RFC 3464 per-recipient fields).
struct DsnRecipient {
  std::string original_recipient;  // Original-Recipient, address only
  std::string final_recipient;     // Final-Recipient, address only
  std::string action;              // failed / delayed / delivered / relayed / expanded
  std::string status;              // e.g. 5.1.1
  std::string diagnostic;          // Diagnostic-Code text
};

// References to the original message the response answers.
struct References {
  std::string message_id;          // of the original (embedded or quoted), without <>
  std::vector<std::string> in_reply_to;  // In-Reply-To ids of the response itself
  std::vector<std::string> references;   // References ids of the response itself
  std::string subject;             // of the original
  std::string from;                // of the original (addr-spec)
  std::vector<std::string> to;     // of the original (addr-specs)
  std::string date;                // of the original
  std::string original_sender;     // the original envelope sender where stated
  std::string original_envelope_id;
  std::string reporting_mta;
  std::vector<DsnRecipient> recipients;
  std::vector<std::string> original_received_ips;    // embedded Received chain, newest first
  std::vector<std::string> original_received_hosts;  // "by" hosts of that chain
  // That chain hop by hop, newest first (the hops of the embedded original,
  // else of the one quoted in the text), at most kMaxHops.
  std::vector<mail::Received> original_hops{};
  std::string arrival_date{};  // DSN Arrival-Date (when the reporting MTA got the original)
  std::string response_date{};  // the Date of the response itself
};

struct Verdict {
  Kind kind = Kind::kNone;
  double confidence = 0.0;          // 0..1
  std::vector<std::string> signals; // names of the signals that fired, in order
  References refs;
  bool feedback_report = false;     // an ARF (RFC 5965) report: kind stays kNone
  // A pattern scan failed (the matcher could not get memory): some rules may
  // not have fired, so `kind` may be wrong. Also reported as the signal
  // "matcher-error". A caller that acts on the kind (serve) treats the
  // message as not judged; reports (scan, classify) show it and go on.
  bool scan_failed = false;
};

}  // namespace backstop::classify
