// The request line of an HTTP/1.x request head, for the small HTTP endpoints
// (/metrics, /healthz). Pure; no I/O. The caller bounds the head's size.
#pragma once

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

}  // namespace backstop::net
