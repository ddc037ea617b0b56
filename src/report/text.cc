#include "report/text.h"

#include "common/text.h"

namespace backstop::report {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// The character reference for a byte with a meaning in HTML text or
// attributes, or "" for any other byte.
std::string_view entity(char c) {
  switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&#39;";
    default: return {};
  }
}

}  // namespace

std::string csv_field(std::string_view s) {
  std::string clean = text::sanitize_utf8(s);
  bool formula = !clean.empty() && (clean[0] == '=' || clean[0] == '+' || clean[0] == '-' ||
                                    clean[0] == '@');
  bool quote = formula || clean.find_first_of(",\"\r\n") != std::string::npos ||
               (!clean.empty() && (clean.front() == ' ' || clean.front() == '\t' ||
                                   clean.back() == ' ' || clean.back() == '\t'));
  if (!quote) return clean;
  std::string out = "\"";
  if (formula) out += '\'';
  for (char c : clean) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string html_escape(std::string_view s) {
  std::string clean = text::sanitize_utf8(s);
  std::string out;
  out.reserve(clean.size() + 16);
  for (char ch : clean) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::string_view e = entity(ch); !e.empty()) {
      out += e;
    } else if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) {
      out += kReplacement;
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace backstop::report
