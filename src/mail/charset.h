// Internal: byte-to-UTF-8 conversion for the mail core (not a public interface).
// Thread-safety: reentrant; converters are cached per thread.
#pragma once

#include <string>
#include <string_view>

#include "common/text.h"

namespace backstop::mail::detail {

// Appends `bytes` to `out`, copying valid UTF-8 as-is and writing U+FFFD for
// every byte that does not start a valid UTF-8 sequence (common/text.h).
using text::append_utf8_sanitized;

// Appends `bytes`, decoded from `charset` (any name iconv or GMime knows,
// case-insensitive), to `out` as UTF-8. Invalid or unconvertible bytes become
// U+FFFD; an unknown or empty charset is read as UTF-8 (then sanitized).
void append_as_utf8(std::string& out, std::string_view bytes, std::string_view charset);

// Appends at most `max_bytes` of `in` to `out`, never cutting a UTF-8
// sequence (`in` must be valid UTF-8). Returns true when `in` was cut.
bool append_utf8_prefix(std::string& out, std::string_view in, std::size_t max_bytes);

}  // namespace backstop::mail::detail
