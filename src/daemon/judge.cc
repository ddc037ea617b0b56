#include "daemon/judge.h"

namespace backstop::daemon {

Judge::Judge(const classify::Classifier* classifier, const correlate::Correlator* correlator,
             const policy::Table* table, mail::Limits limits, ClassifyHook hook)
    : classifier_(classifier), correlator_(correlator), table_(table), limits_(limits), hook_(std::move(hook)) {}

Result<Judgement> Judge::judge(std::string_view raw, const mail::Envelope& envelope) const {
  auto c = classify_parsed(mail::parse_message(raw, limits_), envelope);
  BACKSTOP_TRY(c);
  return decide(std::move(*c), envelope);
}

Result<Judgement> Judge::judge(std::span<const mail::FieldView> headers, std::string_view body,
                               const mail::Envelope& envelope) const {
  auto c = classify(headers, body, envelope);
  BACKSTOP_TRY(c);
  return decide(std::move(*c), envelope);
}

Result<Classified> Judge::classify(std::span<const mail::FieldView> headers, std::string_view body,
                                   const mail::Envelope& envelope) const {
  return classify_parsed(mail::parse_message(headers, body, limits_), envelope);
}

Result<Classified> Judge::classify_parsed(Result<mail::Message> message, const mail::Envelope& envelope) const {
  Classified c;
  // Nothing header-like: not an automated response we can recognise.
  if (!message) return c;
  c.parsed = true;
  c.message = std::move(*message);
  c.verdict = classifier_->classify(c.message, envelope);
  if (hook_) hook_(c.message, c.verdict);
  // A kind from a partial scan could turn a real bounce into a 550, or let
  // backscatter through: the message is not judged at all.
  if (c.verdict.scan_failed) return fail(Code::kInternal, "classification failed: a pattern scan failed");
  return c;
}

template <class Correlate>
Result<Judgement> Judge::decide_with(Classified c, Correlate&& correlate) const {
  Judgement j;
  j.parsed = c.parsed;
  if (c.parsed && c.verdict.kind != classify::Kind::kNone) {
    auto outcome = correlate(c);
    BACKSTOP_TRY(outcome);
    j.outcome = std::move(*outcome);
  }
  j.verdict = std::move(c.verdict);
  if (c.parsed) {
    j.conditions = c.message.conditions;
    j.headers = std::move(c.message.headers);
  }
  j.decision = table_->decide(j.verdict, j.outcome);
  return j;
}

Result<Judgement> Judge::decide(Classified c, const mail::Envelope& envelope) const {
  return decide_with(std::move(c), [&](const Classified& cl) {
    return correlator_->correlate(cl.verdict, envelope, &cl.message);
  });
}

correlate::Correlator::Plan Judge::plan(const Classified& c, const mail::Envelope& envelope) const {
  if (!c.needs_store()) return {};
  return correlator_->plan(c.verdict, envelope, &c.message);
}

Result<Judgement> Judge::decide(Classified c, const mail::Envelope& envelope, correlate::Correlator::Plan plan,
                                Result<store::ReadBatchResult> found) const {
  return decide_with(std::move(c), [&](const Classified& cl) {
    return correlator_->conclude(std::move(plan), std::move(found), cl.verdict, envelope, &cl.message);
  });
}

std::string_view failure_place(const Error& error) {
  return error.code() == Code::kInternal ? "classify" : "store";
}

std::string summary(const Judgement& j) {
  std::string s = "kind=" + std::string(classify::kind_name(j.verdict.kind));
  s += " verdict=" + std::string(correlate::verdict_name(j.outcome.verdict));
  s += " action=" + std::string(policy::action_name(j.decision.action));
  s += " signals=";
  for (std::size_t i = 0; i < j.verdict.signals.size(); ++i) {
    s += (i ? "," : "") + j.verdict.signals[i];
  }
  for (const auto& e : j.outcome.evidence) {
    s += " evidence=" + e.source + ":" + std::string(correlate::verdict_name(e.points_to));
  }
  return s;
}

}  // namespace backstop::daemon
