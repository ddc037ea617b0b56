// Values that correlate a DSN with the message it reports on: xtext (RFC 3461
// §4, the encoding of the ENVID and ORCPT parameters) and RFC 5322
// date-times (a DSN's Arrival-Date, a message's Date). Parsers of untrusted
// bytes: bounded, no I/O, never throw.
// Thread-safety: stateless.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace backstop::mail {

// RFC 3461 §4.4: an ENVID is at most 100 characters before encoding; its
// xtext form at most three times that.
inline constexpr std::size_t kMaxEnvidChars = 100;
inline constexpr std::size_t kMaxXtextBytes = 3 * kMaxEnvidChars;

// Decodes xtext ("+2B" is '+'; xchar is '!'..'~' except '+' and '='), or
// nullopt when `in` is not xtext, is longer than kMaxXtextBytes, or decodes
// to something other than printable US-ASCII (RFC 3461 §4.4: an ENVID is
// graphic characters and blanks) or to more than kMaxEnvidChars.
std::optional<std::string> decode_envid(std::string_view in);

// The ENVID parameter's value among the ESMTP parameters of a MAIL command
// ("ENVID=QQ314159", the keyword case-insensitive), decoded; nullopt when
// absent or not valid (decode_envid()).
std::optional<std::string> envid_parameter(std::string_view param);

// A date-time longer than this is not one (RFC 5322 dates are < 40 bytes;
// comments such as "(UTC)" or "(Pacific Standard Time)" fit).
inline constexpr std::size_t kMaxDateBytes = 256;

// Unix seconds of an RFC 5322 date-time ("Sun, 6 Dec 2026 15:42:40 +0000
// (UTC)"), with what real MTAs write too: no weekday, no seconds, 2-digit
// years (RFC 5322 §4.3), obsolete zone names (UT, GMT, EST...; military
// letters count as +0000), comments. nullopt when `value` holds no such
// date, a field is out of range, or it is longer than kMaxDateBytes.
std::optional<std::int64_t> parse_date_time(std::string_view value);

}  // namespace backstop::mail
