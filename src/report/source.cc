#include "report/source.h"

#include "mail/received.h"

namespace backstop::report {
namespace {

// Ranges that never identify an outside sender (IANA special-purpose
// registries, RFC 6890 and successors).
constexpr const char* kSpecial[] = {
    "0.0.0.0/8",     "10.0.0.0/8",      "100.64.0.0/10",  "127.0.0.0/8",   "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24",    "192.0.2.0/24",   "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4",   "240.0.0.0/4",    "::/128",
    "::1/128",       "fc00::/7",        "fe80::/10",      "ff00::/8",       "2001:db8::/32",
};

const std::vector<ip::Network>& special_ranges() {
  static const std::vector<ip::Network> ranges = [] {
    std::vector<ip::Network> v;
    for (const char* s : kSpecial) {
      auto n = ip::parse_network(s);
      BACKSTOP_INVARIANT(n.has_value());
      v.push_back(*n);
    }
    return v;
  }();
  return ranges;
}

}  // namespace

Status Trusted::add(std::string_view cidr) {
  auto n = ip::parse_network(cidr);
  if (!n) return fail(Code::kInvalidArgument, "not an IP address or CIDR: " + std::string(cidr));
  ranges_.push_back(*n);
  return {};
}

bool Trusted::contains(std::string_view text) const {
  auto a = ip::parse(text);
  if (!a) return false;
  for (const ip::Network& n : ranges_) {
    if (ip::contains(n, *a)) return true;
  }
  return false;
}

bool is_public_ip(std::string_view text) {
  auto a = ip::parse(text);
  if (!a) return false;
  for (const ip::Network& n : special_ranges()) {
    if (ip::contains(n, *a)) return false;
  }
  return true;
}

Hop first_external_hop(const std::vector<std::string_view>& received_values,
                       const Trusted& trusted) {
  for (std::string_view value : received_values) {
    auto r = mail::parse_received(value);
    if (!r || r->from_ip.empty()) continue;
    if (!is_public_ip(r->from_ip) || trusted.contains(r->from_ip)) continue;
    return Hop{r->from_ip, !r->from_rdns.empty() ? r->from_rdns : r->from_helo};
  }
  return {};
}

}  // namespace backstop::report
