// Internal to message.cc: the body of a multipart entity as GMime is given
// it. The content of parts that classification never reads (application/*,
// image/*, audio/*, video/*, font/*, model/* leaves: attachments) is left
// out, so GMime's line-by-line scan of that content, and the copy of it, cost
// nothing; a field kElidedField in the part's header section keeps the length
// GMime would have given that content. Text parts, message/* parts
// (embedded originals, delivery status, rfc822-headers) and anything the
// elider does not read exactly as GMime does are passed through unchanged.
// Pure functions over bytes; reentrant (GMime must be initialised).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "mail/limits.h"
#include "mail/message.h"

namespace backstop::mail::detail {

// Added to the header section of a part whose content was left out; its
// value is the length in bytes GMime would have given that content.
inline constexpr std::string_view kElidedField = "X-Backstop-Elided";

// Appends `body` to `out`, repairing Content-Type parameters written on a
// line of their own (see message.cc: a "boundary=" line right after a line
// ending in ';' gets a leading tab).
void append_body_repaired(std::string& out, std::string_view body);

// Appends `body`, the body of a multipart entity whose boundary parameter is
// `boundary`, to `out` with the content of attachment leaves left out (see
// above), each copied segment repaired as append_body_repaired does. With
// an empty `boundary` the body is appended whole (repaired).
void append_body_elided(std::string& out, std::string_view body, std::string_view boundary);

// The boundary parameter of a Content-Type value when it names a multipart
// type and the elider can follow it (RFC 2046 characters, at most
// kMaxBoundaryLength); nullopt otherwise.
std::optional<std::string> elidable_multipart_boundary(std::string_view content_type);

// parse_message with nothing left out (message.cc): for the tests and the
// fuzz target that check both give the same Message.
Result<Message> parse_message_whole(std::string_view raw, const Limits& limits = kDefaultLimits);

}  // namespace backstop::mail::detail
