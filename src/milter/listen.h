// Listening endpoints as Postfix writes them: "inet:HOST:PORT" (HOST an IPv4 or
// IPv6 literal, optionally in brackets, or "localhost"; PORT 0 = any free port)
// and "unix:PATH". libmilter's "inet:PORT@HOST" / "inet6:PORT@HOST" are
// accepted too, so a Sendmail-style line works unchanged. Pure; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace backstop::milter {

struct ListenSpec {
  enum class Kind { kInet, kUnix };
  Kind kind = Kind::kInet;
  std::string host;      // kInet: address literal without brackets
  std::uint16_t port = 0;
  std::string path;      // kUnix
  std::string to_string() const;  // canonical "inet:HOST:PORT" / "unix:PATH"
};

Result<ListenSpec> parse_listen(std::string_view spec);

}  // namespace backstop::milter
