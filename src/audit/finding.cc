#include "audit/finding.h"

#include <array>

#include "common/text.h"

namespace backstop::audit {

std::string_view severity_name(Severity s) noexcept {
  switch (s) {
    case Severity::kLow: return "low";
    case Severity::kMedium: return "medium";
    case Severity::kHigh: return "high";
  }
  return "medium";
}

std::size_t Report::finding_count() const noexcept {
  std::size_t n = 0;
  for (const auto& s : sections) n += s.findings.size();
  return n;
}

int exit_status(const Report& r) noexcept { return r.finding_count() == 0 ? 0 : 1; }

namespace {

// Appends `text` indented by `indent` after the first line, wrapping nothing:
// the caller's text is short; embedded newlines get the indent.
void append_block(std::string& out, std::string_view label, std::string_view text) {
  if (text.empty()) return;
  out += "    ";
  out += label;
  const std::string safe = text::log_safe(text);
  out += safe;
  out += '\n';
}

}  // namespace

std::string render_text(const Report& r) {
  std::string out;
  std::array<std::size_t, 3> by{};
  for (const auto& s : r.sections) {
    out += "== " + text::log_safe(s.target) + "\n";
    if (s.findings.empty()) out += "  no findings\n";
    for (const auto& f : s.findings) {
      by[static_cast<std::size_t>(f.severity)]++;
      std::string sev(severity_name(f.severity));
      for (auto& c : sev) c = static_cast<char>(c - 'a' + 'A');
      out += "  " + sev + std::string(7 - sev.size(), ' ') + f.id;
      if (!f.where.empty()) out += "  [" + text::log_safe(f.where) + "]";
      out += "\n";
      append_block(out, "", f.title);
      append_block(out, "why: ", f.explanation);
      append_block(out, "fix: ", f.fix);
    }
    for (const auto& n : s.notes) out += "  note: " + text::log_safe(n) + "\n";
    out += "\n";
  }
  const std::size_t total = r.finding_count();
  out += std::to_string(total) + (total == 1 ? " finding" : " findings");
  if (total > 0) {
    out += " (" + std::to_string(by[2]) + " high, " + std::to_string(by[1]) + " medium, " +
           std::to_string(by[0]) + " low)";
  }
  out += "\n";
  return out;
}

std::string render_json(const Report& r) {
  std::string out = "{\"findings\":" + std::to_string(r.finding_count()) + ",\"sections\":[";
  bool first_s = true;
  for (const auto& s : r.sections) {
    if (!first_s) out += ',';
    first_s = false;
    out += "{\"target\":" + text::quote(s.target) + ",\"findings\":[";
    bool first_f = true;
    for (const auto& f : s.findings) {
      if (!first_f) out += ',';
      first_f = false;
      out += "{\"id\":" + text::quote(f.id) + ",\"severity\":" + text::quote(severity_name(f.severity)) +
             ",\"where\":" + text::quote(f.where) + ",\"title\":" + text::quote(f.title) +
             ",\"explanation\":" + text::quote(f.explanation) + ",\"fix\":" + text::quote(f.fix) + "}";
    }
    out += "],\"notes\":[";
    for (std::size_t i = 0; i < s.notes.size(); ++i) {
      if (i) out += ',';
      out += text::quote(s.notes[i]);
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

}  // namespace backstop::audit
