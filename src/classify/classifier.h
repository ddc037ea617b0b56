// The classifier: rules (data, compiled once into a multi-pattern matcher)
// plus an engine that combines structural, envelope, header and phrase
// signals into a Verdict (verdict.h).
// Thread-safety: a Rules object is immutable after load and shared between
// threads; Classifier::classify is const and safe to call concurrently
// (per-thread matcher scratch space is managed inside).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "classify/verdict.h"
#include "common/result.h"
#include "mail/envelope.h"
#include "mail/message.h"

namespace backstop::classify {

class Rules;

// Compiles a rules file's text (format: docs/rules.md). kMalformed with the
// line number on a syntax error or a pattern the matcher rejects.
Result<std::shared_ptr<const Rules>> compile_rules(std::string_view text);
// Reads and compiles a rules file. kNotFound / kEnvironment when unreadable.
Result<std::shared_ptr<const Rules>> load_rules_file(const std::string& path);
// The rules built into the binary (the repository's rules/backscatter.rules).
Result<std::shared_ptr<const Rules>> builtin_rules();

// A one-line explanation of a signal name found in Verdict::signals: for a
// rule, its target, pattern, kinds and weight; for a structural signal, what
// it means and its weight.
std::string describe_signal(const Rules& rules, std::string_view signal);

class Classifier {
 public:
  explicit Classifier(std::shared_ptr<const Rules> rules);
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // Classifies one parsed message. Damage in the message lowers confidence
  // or adds a signal, it does not stop classification; a pattern scan that
  // fails (out of memory) sets Verdict::scan_failed. The envelope counts
  // only when `envelope.known`.
  Verdict classify(const mail::Message& message, const mail::Envelope& envelope = {}) const;

  const Rules& rules() const noexcept { return *rules_; }

 private:
  std::shared_ptr<const Rules> rules_;
};

}  // namespace backstop::classify
