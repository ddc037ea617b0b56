// Byte-string helpers shared by every component: ASCII case folding and
// comparison, whitespace trimming, bracket stripping, UTF-8 sanitising,
// quoting for JSON and TOML output, ISO 8601 timestamps. Only ASCII letters
// and whitespace are special; other bytes pass through. No locale is used.
// Thread-safety: stateless functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace backstop::text {

// The C locale's whitespace: space, \t, \n, \v, \f, \r.
constexpr bool is_space(char c) noexcept {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

// 'A'..'Z' become 'a'..'z'; every other byte is unchanged.
constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
std::string ascii_lower(std::string_view s);

// Equality and prefix test ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b) noexcept;
bool istarts_with(std::string_view s, std::string_view prefix) noexcept;

// `s` without its leading and trailing is_space() bytes.
std::string_view trim(std::string_view s) noexcept;

// `s` without one enclosing pair `open`...`close` ("<a@b>" -> "a@b",
// "<>" -> ""); `s` itself when it does not both start and end with them.
std::string_view strip_brackets(std::string_view s, char open = '<', char close = '>') noexcept;

// Length (1..4) of the well-formed UTF-8 sequence starting at s[i], or 0
// when none starts there (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF). REQUIRES: i < s.size().
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept;

// Appends `bytes` to `out`, copying well-formed UTF-8 and writing U+FFFD for
// every byte that does not start a well-formed sequence.
void append_utf8_sanitized(std::string& out, std::string_view bytes);
std::string sanitize_utf8(std::string_view bytes);

// `s` made safe for one line of a log: control bytes (U+0000..U+001F and
// U+007F, CR and LF among them) become \xNN and a backslash becomes \\, so
// peer bytes can neither end a line nor forge another; bytes that are not
// well-formed UTF-8 become \xNN too. Returns `s` unchanged (a copy) when there
// is nothing to escape.
std::string log_safe(std::string_view s);

// What quote() escapes beyond the minimum.
enum class Quote : bool {
  kPlain,       // only what JSON and TOML require
  kScriptSafe,  // also < > & U+2028 U+2029, so the literal may sit in an HTML page
};

// Appends `s` as a double-quoted string literal that is both a valid JSON
// string (RFC 8259) and a valid TOML basic string: bytes that are not
// well-formed UTF-8 become U+FFFD; " and \ are backslash-escaped; control
// characters (U+0000..U+001F, U+007F) are escaped as \b \t \n \f \r or \u00xx.
void append_quoted(std::string& out, std::string_view s, Quote how = Quote::kPlain);
std::string quote(std::string_view s, Quote how = Quote::kPlain);

// `s` as HTML text or a quoted attribute value: the one HTML escaping
// function of backstop (the scan report, the DNSBL lookup page). Bytes that
// are not well-formed UTF-8 become U+FFFD; & < > " ' become character
// references; control characters other than tab and LF become U+FFFD
// (NUL among them). The result holds no markup and no byte that ends an
// attribute, whatever `s` is.
std::string html_escape(std::string_view s);

// Unix seconds as ISO 8601 UTC, "2024-01-02T03:04:05Z"; the decimal number
// when the time is outside what the C library can represent.
std::string iso_time(std::int64_t unix_seconds);

}  // namespace backstop::text
