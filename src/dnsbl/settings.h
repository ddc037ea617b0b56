// DNSBL settings from the configuration table (config/config.h):
//   [[dnsbl.zones]] zone, action, codes ("127.0.0.2" or "127.0.0.2=meaning",
//                   comma-separated), message
//   dnsbl.safe_mode, dnsbl.timeout_ms, dnsbl.resolver ("HOST" or "HOST:PORT",
//                   "[V6]:PORT"; empty: resolv.conf)
//   trap.threshold, trap.expire_days, trap.allow, relays.ours (CIDR entries;
//                   host names there are for correlate, not for attribution)
// Thread-safety: stateless functions.
#pragma once

#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "dnsbl/cares_resolver.h"
#include "dnsbl/client.h"
#include "common/ip.h"
#include "dnsbl/listings.h"

namespace backstop::dnsbl {

struct DnsblSettings {
  ClientOptions client;
  CaresOptions resolver;
};

// kInvalidArgument naming the key on a bad zone, action, code or resolver.
Result<DnsblSettings> dnsbl_settings(const config::Config& cfg);
// Parses "HOST", "HOST:PORT", "[V6]" or "[V6]:PORT" into `out` (port default 53).
Status parse_resolver(std::string_view text, CaresOptions* out);
ListingPolicy listing_policy(const config::Config& cfg);
// The CIDR entries of relays.ours (host names skipped).
std::vector<ip::Network> relay_networks(const config::Config& cfg);

}  // namespace backstop::dnsbl
