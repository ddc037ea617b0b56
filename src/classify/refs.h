// Extraction of References (verdict.h) from a parsed message: the response's
// own In-Reply-To/References, DSN fields, and the headers of the original
// (embedded, or quoted inline in the body text).
// Thread-safety: stateless.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "classify/verdict.h"
#include "mail/message.h"

namespace backstop::classify {

// Message ids kept per In-Reply-To / References field: References of a long
// thread can list hundreds; the newest few are enough for correlation.
inline constexpr std::size_t kMaxIds = 32;
// Received hops kept from the original's chain (IPs and "by" hosts each):
// real chains are < 20 hops.
inline constexpr std::size_t kMaxHops = 32;

// Fills every reference the message states. Never fails; absent data stays empty.
References extract_references(const mail::Message& message);

// Message ids in a Message-ID / In-Reply-To / References value, without <>.
std::vector<std::string> parse_msg_ids(std::string_view value);

// The address in a DSN address field ("rfc822; a@b" -> "a@b", "<a@b>" -> "a@b").
std::string dsn_address(std::string_view value);

}  // namespace backstop::classify
