// IP addresses and CIDR blocks for listings and the allowlist. Pure; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace backstop::store {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4
};

// Parses dotted IPv4 or RFC 4291 IPv6 text; kInvalidArgument otherwise.
Result<IpAddress> parse_ip(std::string_view text);
// inet_ntop form ("192.0.2.1", "2001:db8::1").
std::string format_ip(const IpAddress& ip);
// Canonical text of `text` (parse then format).
Result<std::string> canonical_ip(std::string_view text);

struct Cidr {
  IpAddress base;     // host bits cleared
  unsigned prefix = 0;
};
// "192.0.2.0/24", "2001:db8::/32" or a bare address (a /32 or /128).
Result<Cidr> parse_cidr(std::string_view text);
// "base/prefix", always with the prefix.
std::string format_cidr(const Cidr& c);
bool cidr_contains(const Cidr& c, const IpAddress& ip);

}  // namespace backstop::store
