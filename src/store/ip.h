// IP addresses and CIDR blocks for listings and the allowlist: the store's
// names for common/ip.h, so listings and DNSBL lookups canonicalise alike
// (IPv4-mapped IPv6 folds to IPv4). Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/ip.h"
#include "common/result.h"

namespace backstop::store {

using IpAddress = ip::Address;
using Cidr = ip::Network;

// An IP literal; kInvalidArgument otherwise.
Result<IpAddress> parse_ip(std::string_view text);
// inet_ntop form ("192.0.2.1", "2001:db8::1").
std::string format_ip(const IpAddress& ip);
// Canonical text of `text` (parse then format): the listing key.
Result<std::string> canonical_ip(std::string_view text);
// "192.0.2.0/24", "2001:db8::/32" or a bare address (a /32 or /128).
Result<Cidr> parse_cidr(std::string_view text);
// "base/prefix", always with the prefix: the allowlist key.
std::string format_cidr(const Cidr& c);
bool cidr_contains(const Cidr& c, const IpAddress& ip);

}  // namespace backstop::store
