// The classifier on one whole message: arbitrary bytes parsed as a message
// (default limits, as serve and scan parse) and classified with the built-in
// rules, under an envelope chosen by the first byte (unknown, null sender or
// a sender; with or without recipients and a client IP). Invariants:
//  - the kind's name parses back to the kind;
//  - confidence is in [0.5, 1] (docs/rules.md: 1 - 0.5^score for a flagged
//    message, whose score is >= 1; 1 - min(score, 1)/2 for none);
//  - a feedback report is kind none;
//  - every signal is a built-in rule or a structural signal, and none fires twice;
//  - verdict_json is one line of valid JSON (an object) that names the kind.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "classify/classifier.h"
#include "classify/verdict_json.h"
#include "json_valid.h"
#include "mail/message.h"

namespace {

using namespace backstop;

const classify::Classifier& classifier() {
  static const classify::Classifier* c = [] {
    auto rules = classify::builtin_rules();
    if (!rules) std::abort();  // the built-in rules always compile
    return new classify::Classifier(*rules);
  }();
  return *c;
}

mail::Envelope envelope_for(std::uint8_t b) {
  mail::Envelope env;
  env.known = (b & 1) != 0;
  if (!env.known) return env;
  if ((b & 2) == 0) env.mail_from = "sender@example.net";
  if (b & 4) env.rcpts = {"alice@example.org", "prvs=0123456789=bob@example.org"};
  if (b & 8) env.client_ip = (b & 16) ? "2001:db8::25" : "192.0.2.25";
  return env;
}

}  // namespace

// The expensive set-up (compiling the built-in rules takes seconds under
// load) runs here, before the first input, so that no input's time includes it.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)classifier();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto env = envelope_for(size ? data[0] : 0);
  auto m = mail::parse_message(in);
  if (!m) return 0;
  const classify::Classifier& c = classifier();
  const classify::Verdict v = c.classify(*m, env);

  classify::Kind back{};
  if (!classify::parse_kind(classify::kind_name(v.kind), &back) || back != v.kind) std::abort();
  if (!(v.confidence >= 0.5 && v.confidence <= 1.0)) std::abort();
  if (v.feedback_report && v.kind != classify::Kind::kNone) std::abort();
  std::set<std::string_view> seen;
  for (const auto& s : v.signals) {
    if (!seen.insert(s).second) std::abort();
    if (classify::describe_signal(c.rules(), s) == "unknown signal") std::abort();
  }
  const std::string json = classify::verdict_json(v);
  if (json.empty() || json.front() != '{' || json.find('\n') != std::string::npos) std::abort();
  if (!backstop::fuzz::valid_json(json)) std::abort();
  if (json.find("\"kind\":\"" + std::string(classify::kind_name(v.kind)) + "\"") == std::string::npos) std::abort();
  return 0;
}
