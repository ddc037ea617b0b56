// HTTP/1.x request heads, for the small HTTP endpoints (/metrics, /healthz,
// the DNSBL lookup page): the request line and single header fields. Pure;
// no I/O. The caller bounds the head's size.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/result.h"

namespace backstop::net {

struct RequestLine {
  std::string_view method;   // "GET": upper-case letters, 1..16
  std::string_view target;   // "/metrics": starts with '/', printable ASCII, no query split
  std::string_view version;  // "HTTP/1.1", or empty for a bare "GET /path"
};

// Parses the first line of `head` (up to CRLF, LF or the end): METHOD SP
// TARGET [SP HTTP/x.y]. The views point into `head`. kMalformed otherwise.
Result<RequestLine> parse_request_line(std::string_view head);

// The value of header field `name` (ASCII case-insensitive) in `head`: the
// lines after the request line up to the first empty line (CRLF or LF),
// blanks around the value trimmed; a view into `head`; nullopt when absent.
// kMalformed when the field occurs more than once (a second Content-Length
// or Host is how requests are smuggled past a proxy), when a line of the
// section has no colon, starts with a blank (obsolete folding) or holds a
// control byte other than tab.
Result<std::optional<std::string_view>> header_value(std::string_view head, std::string_view name);

// Content-Length as a number: nullopt when absent; kMalformed unless it is
// 1 to 19 decimal digits (no sign, no list).
Result<std::optional<std::uint64_t>> content_length(std::string_view head);

// The target split at the first '?': path and query (query empty if none).
struct Target {
  std::string_view path;
  std::string_view query;
};
Target split_target(std::string_view target);

}  // namespace backstop::net
