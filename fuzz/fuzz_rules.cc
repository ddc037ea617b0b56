// The rules file (docs/rules.md) on arbitrary text. parse_rules either
// returns a kMalformed error that says where ("rules line N: ..." or
// "rules: ...") or rules that keep the format's promises (a name without
// blanks, unique, not a structural signal's; at least one kind; a number in
// [-10, 10] for the weight; only known flags; a pattern, or `exists` on a
// header:/dsn: target; lines in order). Rules that
// parse and form a small set (below) are compiled too: compile_rules then
// either refuses a pattern the matcher rejects, naming that rule's line, or
// gives the parsed rules with targets that partition them; those classify a
// few fixed messages with confidence in [0.5, 1] and report only their own
// signals.
//
// Only small sets without bounded repeats are compiled because Vectorscan's
// compile time grows steeply with repeats and alternation: the parser's
// limits (20,000 rules, 4 KiB a pattern) bound what a rules file holds, not
// how long the matcher takes to compile it (measured on the shared 2-core
// VM: /.{4000}x/s 8 s, /(.{200}){200}/s 14 s, a 300-way alternation of dots
// 11 s, 2,000 small rules 56 s and 800 MB). Rules are the administrator's
// file, compiled at start and reload, not peer input; within these bounds an
// input took about a second at most, far below the fuzzer's timeout.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "classify/rules.h"
#include "common/text.h"
#include "mail/message.h"

namespace {

using namespace backstop;

// Messages every compiled rule set classifies: a DSN, an autoreply and a
// plain message, so that subject, from, header, body, embedded and dsn
// targets all have text to scan.
const std::vector<mail::Message>& messages() {
  static const auto* m = [] {
    auto* out = new std::vector<mail::Message>;
    for (std::string_view raw : {
             std::string_view("From: MAILER-DAEMON@mx.example.net\r\nTo: alice@example.org\r\n"
                              "Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
                              "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
                              "boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
                              "I'm sorry to have to inform you that your message could not be delivered.\r\n"
                              "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n"
                              "\r\nFinal-Recipient: rfc822; gone@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
                              "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n--b\r\n"
                              "Content-Type: message/rfc822\r\n\r\nFrom: alice@example.org\r\nTo: gone@example.net\r\n"
                              "Subject: lunch\r\nMessage-ID: <x1@example.org>\r\n\r\nSee you at noon.\r\n--b--\r\n"),
             std::string_view("From: \"Bob\" <bob@example.net>\r\nTo: alice@example.org\r\n"
                              "Subject: Out of office: lunch\r\nAuto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n"
                              "In-Reply-To: <x1@example.org>\r\n\r\nI am away until Monday.\r\n"),
             std::string_view("From: carol@example.net\r\nSubject: hello\r\n\r\nJust a note.\r\n"),
         }) {
      auto p = mail::parse_message(raw);
      if (!p) std::abort();
      out->push_back(std::move(*p));
    }
    return out;
  }();
  return *m;
}

void check_parsed(const std::vector<classify::Rule>& rs) {
  if (rs.empty()) std::abort();
  std::set<std::string_view> names;
  int last_line = 0;
  for (const auto& r : rs) {
    if (r.name.empty() || !names.insert(r.name).second) std::abort();
    for (char c : r.name) {
      if (text::is_space(c)) std::abort();
    }
    if (r.buckets.empty() || classify::is_structural_signal(r.name)) std::abort();
    if ((r.flags & ~classify::kKnownRuleFlags) != 0) std::abort();
    if (!std::isfinite(r.weight) || r.weight < -10.0 || r.weight > 10.0) std::abort();
    const bool field = r.target.kind == classify::TargetKind::kHeader || r.target.kind == classify::TargetKind::kDsn;
    if (field == r.target.name.empty()) std::abort();
    if (r.exists ? (!field || !r.pattern.empty()) : r.pattern.empty()) std::abort();
    if (r.line <= last_line) std::abort();
    last_line = r.line;
  }
}

// The compiled rules are the parsed ones, and every rule is in exactly one
// target's list, by its kind (pattern or exists).
void check_compiled(const classify::Rules& rules, const std::vector<classify::Rule>& parsed) {
  const auto& rs = rules.rules();
  if (rs.size() != parsed.size()) std::abort();
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if (rs[i].name != parsed[i].name || rs[i].pattern != parsed[i].pattern || rs[i].line != parsed[i].line) {
      std::abort();
    }
  }
  std::vector<int> seen(rs.size(), 0);
  for (const auto& t : rules.targets()) {
    for (std::size_t id : t.rule_ids) {
      if (id >= rs.size() || rs[id].exists || !(rs[id].target == t.target)) std::abort();
      ++seen[id];
    }
    for (std::size_t id : t.exists_ids) {
      if (id >= rs.size() || !rs[id].exists || !(rs[id].target == t.target)) std::abort();
      ++seen[id];
    }
    if ((t.db != nullptr) != !t.rule_ids.empty()) std::abort();
  }
  for (int n : seen) {
    if (n != 1) std::abort();
  }
}

// What is compiled: at most this many rules, with at most this many pattern
// bytes in all and no '{' in a pattern (bounded repeats; a literal's braces
// are escaped, so literals always qualify).
constexpr std::size_t kCompileMaxRules = 8;
constexpr std::size_t kCompileMaxPatternBytes = 256;

bool small(const std::vector<classify::Rule>& rules) {
  if (rules.size() > kCompileMaxRules) return false;
  std::size_t bytes = 0;
  for (const auto& r : rules) {
    if (r.pattern.find('{') != std::string::npos) return false;
    bytes += r.pattern.size();
  }
  return bytes <= kCompileMaxPatternBytes;
}

}  // namespace

// The fixed messages are parsed (and GMime initialised) before the first
// input, so that no input's time includes it.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)messages();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parsed = classify::parse_rules(in);
  if (!parsed) {
    const Error& e = parsed.error();
    if (e.code() != Code::kMalformed || !e.message().starts_with("rules")) std::abort();
    return 0;
  }
  check_parsed(*parsed);
  if (!small(*parsed)) return 0;
  auto compiled = classify::compile_rules(in);
  if (!compiled) {
    // Only a pattern the matcher rejects, named by the line of one of the rules.
    const Error& e = compiled.error();
    if (e.code() != Code::kMalformed || e.message().find(": pattern rejected: ") == std::string::npos) std::abort();
    bool named = false;
    for (const auto& r : *parsed) {
      named |= e.message().starts_with("rules line " + std::to_string(r.line) + ": ");
    }
    if (!named) std::abort();
    return 0;
  }
  check_compiled(**compiled, *parsed);
  const classify::Classifier c(*compiled);
  for (const auto& m : messages()) {
    const classify::Verdict v = c.classify(m, mail::Envelope{true, "", {"alice@example.org"}, "192.0.2.1"});
    if (!(v.confidence >= 0.5 && v.confidence <= 1.0)) std::abort();
    for (const auto& sig : v.signals) {
      if (classify::describe_signal(c.rules(), sig) == "unknown signal") std::abort();
    }
  }
  return 0;
}
