// The inbound decision pipeline shared by the milter, `backstop check` and
// trap ingestion: parse (bounded) -> classify -> correlate -> policy.
// Thread-safety: a Judge is immutable after construction and its judge()
// is safe to call concurrently (the classifier, correlator and table are).
#pragma once

#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "common/result.h"
#include "correlate/correlate.h"
#include "mail/envelope.h"
#include "mail/limits.h"
#include "mail/message.h"
#include "policy/policy.h"

namespace backstop::daemon {

struct Judgement {
  bool parsed = false;                    // false: no header section; judged as kind none
  classify::Verdict verdict;
  correlate::Outcome outcome;
  policy::Decision decision;
  std::vector<mail::Condition> conditions;  // parse limits hit (reported, not fatal)
  mail::HeaderList headers;                 // the top-level header section (empty if !parsed)
};

// A fault-injection seam for tests, in the style of store::FaultStore: runs
// after classification and before correlation, with the parsed message and
// its verdict, and may change the verdict (scan_failed = true stands for a
// failed pattern scan) or throw (stands for a bug). Production code never
// sets one: serve and check leave EngineOptions::classify_hook empty.
using ClassifyHook = std::function<void(const mail::Message&, classify::Verdict&)>;

// The first half of a judgement: the message parsed and classified, with no
// store access (CPU only). Owns everything it holds.
struct Classified {
  bool parsed = false;       // false: no header section; judged as kind none
  mail::Message message;     // meaningful when parsed
  classify::Verdict verdict;
  // True when Judge::decide() will read the store: an automated response to
  // correlate with what we sent.
  bool needs_store() const noexcept { return parsed && verdict.kind != classify::Kind::kNone; }
};

class Judge {
 public:
  // Not owned; all must outlive the Judge. `hook`: tests only (ClassifyHook).
  Judge(const classify::Classifier* classifier, const correlate::Correlator* correlator,
        const policy::Table* table, mail::Limits limits = mail::kDefaultLimits, ClassifyHook hook = {});

  // Judges one message (header section + the first bytes of the body) with
  // its SMTP envelope (`known` set: serve and `backstop check` always know
  // the sender they judge for).
  // Errors, for which the caller answers policy::internal_failure (4xx or
  // fail-open), never 5xx: kInternal when classification failed (a pattern
  // scan failed: Verdict::scan_failed), so the kind cannot be trusted;
  // kUnavailable (or kMalformed: damaged bytes) when the store behind the
  // correlator fails. failure_place() names which for the metrics.
  // Exceptions (none are expected: a bug, or an allocation failure)
  // propagate to the caller, which answers the same way for that message.
  Result<Judgement> judge(std::string_view raw, const mail::Envelope& envelope) const;
  // The same for a message whose header section arrives as fields (the
  // milter's): the judgement of the text those fields stand for
  // (mail::parse_message), without writing it out.
  Result<Judgement> judge(std::span<const mail::FieldView> headers, std::string_view body,
                          const mail::Envelope& envelope) const;

  // judge() in two halves, for a caller that must not wait on the store
  // where it classifies (an event loop over a remote store): classify() is
  // CPU only (kInternal when a pattern scan failed); decide() correlates
  // (reading the store when c.needs_store()) and applies the policy, with
  // judge()'s errors. judge() == decide(classify()).
  Result<Classified> classify(std::span<const mail::FieldView> headers, std::string_view body,
                              const mail::Envelope& envelope) const;
  Result<Judgement> decide(Classified c, const mail::Envelope& envelope) const;

  // decide() in two halves, for a caller that reads the store itself (the
  // milter's event loop over a remote store): plan() gathers the store
  // reads c needs (plan.reads() false: none), decide() judges with what
  // they found (an error in `found`: kUnavailable, as decide()'s).
  // decide(c, e) == decide(c, e, p, read_batch(p.batch)) with p = plan(c, e).
  correlate::Correlator::Plan plan(const Classified& c, const mail::Envelope& envelope) const;
  Result<Judgement> decide(Classified c, const mail::Envelope& envelope, correlate::Correlator::Plan plan,
                           Result<store::ReadBatchResult> found) const;

 private:
  Result<Classified> classify_parsed(Result<mail::Message> message, const mail::Envelope& envelope) const;
  // decide()'s body, with the correlation `correlate(c)` (Result<Outcome>).
  template <class Correlate>
  Result<Judgement> decide_with(Classified c, Correlate&& correlate) const;

  const classify::Classifier* classifier_;
  const correlate::Correlator* correlator_;
  const policy::Table* table_;
  mail::Limits limits_;
  ClassifyHook hook_;
};

// Where a judge() error arose, as backstop_errors_total's `where` label:
// "classify" for kInternal (a failed classification), else "store".
std::string_view failure_place(const Error& error);

// A one-line summary of a judgement for the decision log:
// "kind=bounce verdict=not_ours action=reject signals=a,b evidence=ledger:..."
std::string summary(const Judgement& j);

}  // namespace backstop::daemon
