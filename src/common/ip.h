// IP addresses and CIDR networks shared by every component (relay matching,
// outbound networks, listings, allowlists, DNSBL queries). Pure functions
// over text; no DNS. Thread-safety: value types, stateless functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace backstop::ip {

struct Address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses bytes[0..3]; network order
  friend bool operator==(const Address&, const Address&) = default;
};

// Longest text accepted as an IP literal (IPv6 with embedded IPv4 is 45 bytes,
// plus brackets and an "IPv6:" prefix).
inline constexpr std::size_t kMaxIpText = 64;

// Parses "192.0.2.1", "2001:db8::1", "[192.0.2.1]", "[IPv6:2001:db8::1]",
// "IPv6:2001:db8::1". An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes
// the IPv4 address, so a listing and a lookup agree whatever form an MTA
// reports. kInvalidArgument when `text` is not an IP literal.
Result<Address> parse(std::string_view text);
// inet_ntop form: "192.0.2.1", "2001:db8::1".
std::string to_string(const Address& a);

struct Network {
  Address base;  // host bits cleared
  int prefix = 0;
  friend bool operator==(const Network&, const Network&) = default;
};

// "192.0.2.0/24", "2001:db8::/32", or a bare address (/32 or /128).
// Host bits set in the base are cleared. kInvalidArgument otherwise.
Result<Network> parse_network(std::string_view text);
std::string to_string(const Network& n);
bool contains(const Network& n, const Address& a) noexcept;

}  // namespace backstop::ip
