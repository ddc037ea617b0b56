// The parsed message model: headers, the MIME part tree (through GMime),
// decoded text, delivery-status fields and embedded originals.
// parse_message() is pure (no I/O), bounded by Limits, and never throws.
// Thread-safety: a Message is a value. parse_message() may be called from
// several threads at once (GMime is initialised once, thread-safely).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "mail/header.h"
#include "mail/limits.h"

namespace backstop::mail {

// One MIME part, flattened in depth-first order.
struct Part {
  int parent = -1;           // index into Message::parts, -1 for the root
  int depth = 0;             // 0 for the root entity
  std::string type;          // lower-case media type, e.g. "text"
  std::string subtype;       // lower-case subtype, e.g. "plain"
  std::string charset;       // lower-case charset parameter, if any
  std::string report_type;   // lower-case report-type parameter (multipart/report)
  std::string filename;      // decoded filename, if any
  std::string disposition;   // lower-case "inline"/"attachment"/""
  // Bytes after transfer decoding: exact for parts that are decoded (text,
  // delivery-status, embedded headers), estimated from the encoded size for
  // others (attachments are not decoded).
  std::size_t decoded_size = 0;
};

// message/delivery-status (RFC 3464), also message/global-delivery-status.
// Field names are lower-cased; values are unfolded and trimmed, comments kept.
struct DsnFields {
  std::vector<HeaderField> fields;
  std::string_view get(std::string_view lower_name) const noexcept;
};
struct DeliveryStatus {
  DsnFields per_message;                 // Reporting-MTA, Original-Envelope-Id, ...
  std::vector<DsnFields> per_recipient;  // Final-Recipient, Action, Status, ...
};

// The original message a report or reply carries: from a message/rfc822 or
// text/rfc822-headers part (kind "rfc822" / "rfc822-headers").
struct Embedded {
  std::string kind;
  HeaderList headers;
};

struct Message {
  HeaderList headers;           // the top-level header section
  std::vector<Part> parts;      // parts[0] is the root entity
  // Decoded text of text/* parts outside embedded originals (text/plain
  // preferred; HTML reduced to text), UTF-8, at most Limits::max_body_text.
  std::string text;
  // Decoded text inside embedded originals (message/rfc822 bodies), bounded by
  // the same limit; kept apart so a quoted original's words do not count as
  // the responder's own.
  std::string embedded_text;
  std::vector<DeliveryStatus> delivery_status;
  std::vector<Embedded> embedded;
  std::vector<Condition> conditions;
  std::size_t raw_size = 0;     // bytes given to parse_message

  bool has(Condition c) const noexcept;
};

// Parses a whole message (header section and body). Returns kMalformed only
// when the input has no header section at all (e.g. binary data); every other
// damage is a Condition on the result.
Result<Message> parse_message(std::string_view raw, const Limits& limits = kDefaultLimits);

// The same for a message whose header section arrives split into fields (a
// milter's HEADER events) and its body apart: the result is that of
// parse_message on "name: value\r\n" for every field, an empty line and
// `body` (raw_size counts those bytes), without writing that text out when
// parse_header_fields can read the fields as they are.
Result<Message> parse_message(std::span<const FieldView> headers, std::string_view body,
                              const Limits& limits = kDefaultLimits);

}  // namespace backstop::mail
