// rbldnsd zone export (T3): the active listings as two rbldnsd data files,
//   <out>/<zone>.ip4set   (ip4set: one IPv4 address per line)
//   <out>/<zone>.ip6trie  (ip6trie: one IPv6 /128 per line)
// each written atomically (atomic_file.h), each with the RFC 5782 §5 test
// entry (127.0.0.2, and ::ffff:7f00:2 in the IPv6 file) and never
// 127.0.0.1 / ::ffff:7f00:1, and a TXT per entry saying why and since when
// (<= 255 bytes after rbldnsd expansion, printable ASCII only).
//
// Serve with:  rbldnsd -b ADDR/PORT ZONE:ip4set:ZONE.ip4set ZONE:ip6trie:ZONE.ip6trie
// Thread-safety: stateless functions; concurrent exports of one zone into one
// directory are serialised by an flock on <out>/.<zone>.lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "dnsbl/listings.h"
#include "store/store.h"

namespace backstop::dnsbl {

// Default TXT template. Placeholders: {ip} {zone} {kinds} {hits} {first}
// {last} {expires} (dates YYYY-MM-DD, UTC) {url}.
inline constexpr std::string_view kDefaultTxtTemplate =
    "{ip} sent backscatter ({kinds}) to {zone} spamtraps since {first}, last {last}; "
    "expires {expires} unless seen again; free delisting: {url}";
// The DNS TTL written into the zone ($TTL), seconds.
inline constexpr std::uint32_t kDefaultZoneTtl = 2100;

struct ExportOptions {
  std::string zone;                                   // e.g. "bl.example.org"
  std::string out_dir;                                // existing directory
  std::string txt_template{kDefaultTxtTemplate};
  std::string url;                                    // for {url}; "" -> "ask the operator"
  std::string a_value = "127.0.0.2";                  // A record for listings
  std::uint32_t ttl = kDefaultZoneTtl;
  std::string ns;          // optional: writes $SOA and $NS with this name server
  std::string hostmaster;  // for $SOA (e.g. "hostmaster.example.org"); defaults to hostmaster.<zone>
  ListingPolicy policy;    // for {expires}
};

struct ExportStats {
  std::size_t ipv4 = 0;     // listing lines written (test entry not counted)
  std::size_t ipv6 = 0;
  std::size_t skipped = 0;  // invalid IPs, 127.0.0.1, ::ffff:7f00:1
  std::string ip4_path;
  std::string ip6_path;
};

// The TXT for one listing (sanitised, <= kMaxTxtBytes), before rbldnsd
// escaping. Pure.
std::string listing_txt(const store::Listing& l, const ExportOptions& o);
// "YYYY-MM-DD" of a unix time, UTC.
std::string utc_date(std::int64_t unix_seconds);

// Writes both files from `listings` (normally Listings::active()); `now` is
// written in the header comment. kInvalidArgument for a bad zone or A value;
// kEnvironment for I/O failures (the previous files stay in place).
Result<ExportStats> export_zone(std::span<const store::Listing> listings, const ExportOptions& o,
                                std::int64_t now);

}  // namespace backstop::dnsbl
