// Internal helpers of message.cc: HTML reduction and delivery-status parsing.
// Pure functions over bytes; reentrant.
#pragma once

#include <string>
#include <string_view>

#include "mail/limits.h"
#include "mail/message.h"

namespace backstop::mail::detail {

// Reduces HTML (valid UTF-8) to text: tags removed (line breaks for block
// elements), script/style/comments dropped, character references decoded,
// blank runs collapsed. At most `max_out` bytes are produced, cut at a
// character boundary; `truncated` says whether text was dropped at the cap.
struct HtmlText {
  std::string text;
  bool truncated = false;
};
HtmlText html_to_text(std::string_view html, std::size_t max_out);

// Parses the body of a message/delivery-status part (RFC 3464 §2.1): groups
// of fields separated by blank lines; the first group is per-message unless
// it is clearly a recipient group (some MTAs omit the per-message group).
// Leading blank lines are skipped. At most Limits::max_addresses recipient
// groups and Limits::max_header_count fields per group.
DeliveryStatus parse_delivery_status(std::string_view body, const Limits& limits);

}  // namespace backstop::mail::detail
