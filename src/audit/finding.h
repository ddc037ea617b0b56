// What every audit produces: findings (a setting or behaviour that makes
// backscatter, with the exact fix) and notes (facts worth knowing that are
// not findings), rendered as a readable report or as JSON.
// Pure. Thread-safety: values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace backstop::audit {

// How much backscatter a finding makes.
enum class Severity {
  kLow,     // makes some under conditions (a short vacation interval)
  kMedium,  // makes backscatter for a class of mail (virus notices, a catch-all)
  kHigh,    // accepts mail for recipients it cannot deliver to, then bounces it
};
std::string_view severity_name(Severity s) noexcept;

struct Finding {
  std::string id;           // stable, e.g. "postfix.local-recipient-maps-empty"
  Severity severity = Severity::kMedium;
  std::string where;        // "main.cf", "master.cf:12", "127.0.0.1:25", a file:line
  std::string title;        // one line: what was found
  std::string explanation;  // why it makes backscatter
  std::string fix;          // the exact change: a `postconf -e '...'` line or the line to write
};

// The findings of one audit target (a host, a configuration directory, a file).
struct Section {
  std::string target;              // "smtp 127.0.0.1:25 (domain example.org)"
  std::vector<Finding> findings;
  std::vector<std::string> notes;  // informative, never change the exit status
};

struct Report {
  std::vector<Section> sections;
  std::size_t finding_count() const noexcept;
};

// The readable report: per section a header, each finding with severity, id,
// where, explanation and fix, each note; then a one-line total. Peer and file
// bytes are made log-safe (no control characters reach the terminal).
std::string render_text(const Report& r);
// One JSON object: {"findings": N, "sections": [{"target", "findings": [...], "notes": [...]}]}.
std::string render_json(const Report& r);

// The process exit status for a finished audit: 0 no finding, 1 findings.
// (2, an audit that could not run, is the caller's.)
int exit_status(const Report& r) noexcept;

}  // namespace backstop::audit
