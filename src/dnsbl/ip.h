// IP addresses and CIDR networks as the DNSBL code needs them: parsing from
// text (IPv4, IPv6, IPv4-mapped IPv6 folded to IPv4), canonical text, and
// prefix matching. Pure; no allocation beyond the returned strings.
// Thread-safety: value types, stateless functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace backstop::dnsbl {

struct IpAddress {
  bool v6 = false;
  // IPv4 uses bytes[0..3]; IPv6 all 16, network order.
  std::array<std::uint8_t, 16> bytes{};
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Longest IP literal we accept (an IPv6 text with an embedded IPv4 is 45).
inline constexpr std::size_t kMaxIpTextBytes = 64;

// Parses "192.0.2.1", "2001:db8::1", "[2001:db8::1]", "IPv6:2001:db8::1".
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes the IPv4 address, so a
// listing and a lookup agree whatever form the MTA reports.
// kInvalidArgument when `text` is not an IP literal.
Result<IpAddress> parse_ip(std::string_view text);

// inet_ntop form: "192.0.2.1", "2001:db8::1".
std::string to_string(const IpAddress& ip);

struct Cidr {
  IpAddress network;  // host bits cleared
  int prefix = 0;     // 0..32 or 0..128
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// Parses "192.0.2.0/24", "2001:db8::/32" or a bare address (a /32 or /128).
// Host bits are cleared. kInvalidArgument on bad syntax or prefix.
Result<Cidr> parse_cidr(std::string_view text);
std::string to_string(const Cidr& cidr);
bool contains(const Cidr& cidr, const IpAddress& ip) noexcept;

}  // namespace backstop::dnsbl
