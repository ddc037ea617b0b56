// DNSBL query names (RFC 5782 §2.1, §2.4): the IPv4 address with its octets
// reversed, or the IPv6 address as 32 reversed hex nibbles, then the zone.
//   192.0.2.10   + bl.example -> 10.2.0.192.bl.example
//   2001:db8::25 + bl.example -> 5.2.0.0. ... .8.b.d.0.1.0.0.2.bl.example
// Pure. Thread-safety: stateless.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/ip.h"

namespace backstop::dnsbl {

// A DNS name is at most 253 characters in text form (RFC 1035 §2.3.4).
inline constexpr std::size_t kMaxDnsNameBytes = 253;
// One label is at most 63 octets.
inline constexpr std::size_t kMaxDnsLabelBytes = 63;

// Checks a zone name ("bl.example", trailing dot allowed): LDH labels of
// 1..63 bytes (underscores allowed), total fit with the longest IPv6 prefix.
Status validate_zone(std::string_view zone);

// The query name for `ip` in `zone` (zone given without a trailing dot; one
// is stripped). kInvalidArgument when the zone is invalid.
Result<std::string> query_name(const ip::Address& ip, std::string_view zone);
// Same, parsing `ip` text first (see ip::parse).
Result<std::string> query_name(std::string_view ip, std::string_view zone);

}  // namespace backstop::dnsbl
