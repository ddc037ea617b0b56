// Attribution of a message to the server that handed it to us: the first hop
// of the Received chain (newest first) whose connecting IP is outside private,
// loopback, link-local, shared and documentation ranges and outside the
// caller's trusted relays. The same rule as trap ingestion (DESIGN.md T1).
// Thread-safety: Trusted is immutable after construction; functions are pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

namespace backstop::report {

// A set of CIDR ranges (IPv4 and IPv6).
class Trusted {
 public:
  // Adds "a.b.c.d/n", "x::y/n" or a bare address. kInvalidArgument when not a CIDR.
  Status add(std::string_view cidr);
  bool contains(std::string_view ip) const;

 private:
  std::vector<ip::Network> ranges_;
};

// True for addresses that never identify an outside sender: RFC 1918, RFC 6598
// shared, loopback, link-local, unspecified, multicast, documentation,
// IPv6 ULA/link-local/loopback, and IPv4-mapped forms of those.
// Unparsable text counts as not public.
bool is_public_ip(std::string_view ip);

struct Hop {
  std::string ip;
  std::string host;  // rDNS name from the from-comment, else the HELO name
};

// The first hop (scanning `received_values` in header order, newest first)
// with a public IP not in `trusted`. Empty Hop when none.
Hop first_external_hop(const std::vector<std::string_view>& received_values,
                       const Trusted& trusted);

}  // namespace backstop::report
