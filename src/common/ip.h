// IP addresses and CIDR networks, the one parser every component uses
// (relay matching, outbound networks, limits, listings, allowlists, DNSBL
// queries). Pure functions over text; no DNS.
//
// IPv4-mapped IPv6 (RFC 4291 §2.5.5.2) is folded to IPv4 everywhere, so a
// client Postfix reports as ::ffff:192.0.2.1 and one it reports as
// 192.0.2.1 are the same Address, and each spelling of a network matches
// both:
//   - the address ::ffff:a.b.c.d (or ::ffff:XXXX:XXXX) is the IPv4 address
//     a.b.c.d;
//   - the network ::ffff:a.b.c.d/N with 96 <= N <= 128 is the IPv4 network
//     a.b.c.d/(N-96): ::ffff:192.0.2.0/120 is 192.0.2.0/24;
//   - ::ffff:a.b.c.d/N with N < 96 is refused (kInvalidArgument): it would
//     span IPv4 and other IPv6 addresses at once, which no Network can be.
// Other IPv6 networks never contain an IPv4 address and vice versa.
//
// Thread-safety: value types, stateless functions.
#pragma once

#include <array>
#include <cstddef>
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
// "IPv6:2001:db8::1" (the tag in any case). Nothing else: no blanks, no NUL,
// at most kMaxIpText bytes. IPv4-mapped IPv6 becomes IPv4 (see above).
// kInvalidArgument when `text` is not an IP literal.
Result<Address> parse(std::string_view text);
// inet_ntop form: "192.0.2.1", "2001:db8::1".
std::string to_string(const Address& a);
// to_string(parse(text)): the one spelling of an address, e.g. a listing key.
Result<std::string> canonical(std::string_view text);

struct Network {
  Address base;  // host bits cleared
  int prefix = 0;  // 0..32 for IPv4, 0..128 for IPv6
  friend bool operator==(const Network&, const Network&) = default;
};

// "192.0.2.0/24", "2001:db8::/32", "::ffff:192.0.2.0/120" (see above), or a
// bare address (/32 or /128). The prefix is decimal digits only. Host bits
// set in the base are cleared. kInvalidArgument otherwise.
Result<Network> parse_network(std::string_view text);
// "base/prefix", always with the prefix: "192.0.2.0/24", "2001:db8::1/128".
std::string to_string(const Network& n);
bool contains(const Network& n, const Address& a) noexcept;

}  // namespace backstop::ip
