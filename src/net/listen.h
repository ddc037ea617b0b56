// Listening endpoints, as Postfix writes them: "inet:HOST:PORT" (HOST an IPv4
// or IPv6 literal, optionally in brackets, or "localhost"; PORT 0 = any free
// port) and "unix:PATH" ("local:PATH" too). libmilter's "inet:PORT@HOST" and
// "inet6:PORT@HOST" are accepted, so a Sendmail-style line works unchanged.
// A bare "HOST:PORT" / "[V6]:PORT" (the metrics listener's form) is parsed by
// split_host_port. Pure; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

namespace backstop::net {

struct ListenSpec {
  enum class Kind { kInet, kUnix };
  Kind kind = Kind::kInet;
  std::string host;      // kInet: address literal without brackets
  std::uint16_t port = 0;
  std::string path;      // kUnix
  std::string to_string() const;  // canonical "inet:HOST:PORT" / "unix:PATH"
};

// kInvalidArgument, naming the text, on anything else.
Result<ListenSpec> parse_listen(std::string_view spec);

// "HOST:PORT" / "[V6]:PORT" split into host (brackets removed) and port.
// kInvalidArgument on bad syntax, an empty host or a port over 65535.
Result<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view text);

}  // namespace backstop::net
