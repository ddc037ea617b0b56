// Sanitising text that crosses a trust boundary into SMTP replies, headers
// and rbldnsd zone files: a DNSBL's TXT record (untrusted, from the network)
// and our own listing explanations (built from message data).
// Pure. Thread-safety: stateless.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace backstop::dnsbl {

// One DNS character-string, and rbldnsd's TXT cap (RFC 1035 §3.3).
inline constexpr std::size_t kMaxTxtBytes = 255;
// Room we give a remote TXT inside our own SMTP reply line (RFC 5321
// §4.5.3.1.5 allows 512 octets per reply line including the code).
inline constexpr std::size_t kMaxReplyTxtBytes = 200;

// Keeps printable ASCII (0x21..0x7e) and spaces; every other byte (controls,
// CR, LF, NUL, 8-bit) becomes a space; runs of spaces collapse to one; leading
// and trailing spaces go. The result is at most `max_bytes` bytes; when cut,
// it is cut at a space if one is in the last quarter, and ends with "...".
// Safe to put in an SMTP reply, a header value, or (after escape_rbldnsd_txt)
// a zone file line.
std::string sanitize_txt(std::string_view text, std::size_t max_bytes = kMaxTxtBytes);

// For literal text inside an rbldnsd data line: sanitize_txt to `max_bytes`,
// then every '$' doubled to "$$" (rbldnsd substitutes '$'). Leading ':' and
// '=' are dropped (rbldnsd would read them as an A value or a base-template
// escape). The result may be longer than `max_bytes` by the doubled '$'s,
// but expands back to at most `max_bytes`.
std::string escape_rbldnsd_txt(std::string_view text, std::size_t max_bytes = kMaxTxtBytes);

}  // namespace backstop::dnsbl
