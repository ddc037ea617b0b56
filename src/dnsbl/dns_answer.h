// A bounded parser for the DNS responses a DNSBL lookup gets (RFC 1035 §4):
// header flags and RCODE, the echoed question, A, TXT and MX answers for the
// query name (MX for `backstop audit smtp --mx`), and the negative-caching TTL from an SOA in the authority
// section (RFC 2308 §5). Untrusted bytes: every length and compression
// pointer is checked; work is linear in the packet size.
// Pure. Thread-safety: stateless.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace backstop::dnsbl {

// A DNS message over TCP is at most 65535 bytes; UDP answers are smaller.
inline constexpr std::size_t kMaxDnsPacketBytes = 65535;
// Records looked at per section. A DNSBL answer has a handful; a flood of
// records is a hostile or broken server and is cut off here.
inline constexpr std::size_t kMaxRecordsPerSection = 64;
// Compression pointers followed per name; real names need a few.
inline constexpr std::size_t kMaxPointerHops = 32;
// A wire-format name is at most 255 octets (RFC 1035 §3.1).
inline constexpr std::size_t kMaxWireNameBytes = 255;
// TXT bytes kept per record (DNSBL TXT is one 255-byte string in practice).
inline constexpr std::size_t kMaxTxtKeptBytes = 1024;

inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeSoa = 6;
inline constexpr std::uint16_t kTypeMx = 15;
inline constexpr std::uint16_t kTypeTxt = 16;
inline constexpr std::uint16_t kClassIn = 1;

// RCODE values we act on.
inline constexpr int kRcodeNoError = 0;
inline constexpr int kRcodeFormErr = 1;
inline constexpr int kRcodeServFail = 2;
inline constexpr int kRcodeNxDomain = 3;
inline constexpr int kRcodeRefused = 5;

// One MX record (RFC 1035 §3.3.9): the exchange in read_dns_name's form.
struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;
};

struct DnsAnswer {
  std::uint16_t id = 0;
  bool truncated = false;  // TC bit: the caller must not trust a partial answer
  int rcode = 0;
  std::vector<std::array<std::uint8_t, 4>> a;  // A records owned by the query name
  std::vector<std::string> txt;                // TXT records (strings joined), raw bytes
  std::vector<MxRecord> mx;                    // MX records owned by the query name, in answer order
  std::optional<std::uint32_t> answer_ttl;     // smallest TTL among those records
  std::optional<std::uint32_t> negative_ttl;   // min(SOA TTL, SOA MINIMUM) if an SOA came
};

// Decodes `packet` as the response to a query for (`qname`, `qtype`, IN).
// kMalformed when the bytes do not parse or exceed a limit; kProtocol when it
// is not a response, or its question is not the one asked (case-insensitive
// name comparison). Answer records for other names or types are ignored,
// except that a CNAME chain from the query name is followed.
Result<DnsAnswer> parse_dns_answer(std::span<const std::uint8_t> packet, std::string_view qname,
                                   std::uint16_t qtype);

// Reads the (possibly compressed) name at `*offset`, advancing it past the
// name; returns it lower-cased in dotted form without the final dot, with
// bytes outside [a-z0-9-_] written as \DDD. Exposed for the tests and fuzzer.
Result<std::string> read_dns_name(std::span<const std::uint8_t> packet, std::size_t* offset);

}  // namespace backstop::dnsbl
