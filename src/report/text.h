// Text escaping for the output formats. Every function accepts arbitrary bytes
// (message-derived strings are untrusted) and returns valid output.
// Thread-safety: stateless.
#pragma once

#include <string>
#include <string_view>

namespace backstop::report {

// Replaces each byte sequence that is not well-formed UTF-8 (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF) with U+FFFD.
std::string sanitize_utf8(std::string_view bytes);

// Appends `s` as a JSON string literal (with the quotes) to `out`: invalid
// UTF-8 becomes U+FFFD, control characters and U+2028/U+2029 are \u-escaped,
// so the result is valid JSON and safe to embed in a <script>-less page.
void append_json_string(std::string& out, std::string_view s);

// One CSV field per RFC 4180: quoted when it holds a comma, quote, CR or LF
// (or starts with a blank), quotes doubled; invalid UTF-8 sanitised.
// Fields starting with = + - @ get a leading apostrophe inside the quotes so
// spreadsheets do not evaluate message-derived text as a formula.
std::string csv_field(std::string_view s);

// HTML text/attribute escaping of & < > " ' (after UTF-8 sanitising); control
// characters other than tab and newline become U+FFFD.
std::string html_escape(std::string_view s);

}  // namespace backstop::report
