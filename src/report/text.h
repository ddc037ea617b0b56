// Text escaping for the CSV and HTML output formats (JSON strings and UTF-8
// sanitising: common/text.h). Every function accepts arbitrary bytes
// (message-derived strings are untrusted) and returns valid output.
// Thread-safety: stateless.
#pragma once

#include <string>
#include <string_view>

namespace backstop::report {

// One CSV field per RFC 4180: quoted when it holds a comma, quote, CR or LF
// (or starts with a blank), quotes doubled; invalid UTF-8 sanitised.
// Fields starting with = + - @ get a leading apostrophe inside the quotes so
// spreadsheets do not evaluate message-derived text as a formula.
std::string csv_field(std::string_view s);

// text::html_escape (common/text.h): the one HTML escaping function.
std::string html_escape(std::string_view s);

}  // namespace backstop::report
