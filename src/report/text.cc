#include "report/text.h"

#include "common/text.h"

namespace backstop::report {
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

std::string html_escape(std::string_view s) { return text::html_escape(s); }

}  // namespace backstop::report
