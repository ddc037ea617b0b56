// The inbound decision pipeline shared by the milter, `backstop check` and
// trap ingestion: parse (bounded) -> classify -> correlate -> policy.
// Thread-safety: a Judge is immutable after construction and its judge()
// is safe to call concurrently (the classifier, correlator and table are).
#pragma once

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

class Judge {
 public:
  // Not owned; all must outlive the Judge.
  Judge(const classify::Classifier* classifier, const correlate::Correlator* correlator,
        const policy::Table* table, mail::Limits limits = mail::kDefaultLimits);

  // Judges one message (header section + the first bytes of the body) with
  // its SMTP envelope (`known` set: serve and `backstop check` always know
  // the sender they judge for).
  // kUnavailable when the store behind the correlator fails: the caller
  // answers policy::internal_failure (4xx or fail-open), never 5xx.
  Result<Judgement> judge(std::string_view raw, const mail::Envelope& envelope) const;
  // The same for a message whose header section arrives as fields (the
  // milter's): the judgement of the text those fields stand for
  // (mail::parse_message), without writing it out.
  Result<Judgement> judge(std::span<const mail::FieldView> headers, std::string_view body,
                          const mail::Envelope& envelope) const;

 private:
  Result<Judgement> judge_parsed(Result<mail::Message> message, const mail::Envelope& envelope) const;

  const classify::Classifier* classifier_;
  const correlate::Correlator* correlator_;
  const policy::Table* table_;
  mail::Limits limits_;
};

// A one-line summary of a judgement for the decision log:
// "kind=bounce verdict=not_ours action=reject signals=a,b evidence=ledger:..."
std::string summary(const Judgement& j);

}  // namespace backstop::daemon
