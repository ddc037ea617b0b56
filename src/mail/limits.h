// Every bound the mail core applies to untrusted bytes, with its reason.
// Exceeding one is a reported Condition (or a kTooLarge error where nothing
// useful can be produced), never a crash and never unbounded memory.
#pragma once

#include <cstddef>

namespace backstop::mail {

struct Limits {
  // RFC 5322 allows 998 octets per line but no total; real header sections are
  // < 64 KiB, spam with huge folded headers tops out near 256 KiB. Beyond this
  // the rest of the header section is ignored (Condition kHeaderBytes).
  std::size_t max_header_bytes = 1 << 20;
  // Real mail carries < 200 header fields; 2,000 covers long Received chains
  // of looping mail. Further fields are dropped (Condition kHeaderCount).
  std::size_t max_header_count = 2000;
  // One unfolded field value; longer values are cut (Condition kHeaderLine).
  std::size_t max_field_bytes = 64 * 1024;
  // Addresses in one address-list field; beyond this the list is cut.
  std::size_t max_addresses = 1000;
  // MIME nesting; legitimate mail nests < 10 deep (a DSN wrapping a forwarded
  // message wrapping multipart/alternative is ~6). Deeper parts are not walked.
  std::size_t max_mime_depth = 32;
  // MIME parts walked per message; protects against "zip bomb" multiparts.
  std::size_t max_parts = 500;
  // Decoded body text kept for classification (DESIGN.md §7 classify.max_body).
  std::size_t max_body_text = 256 * 1024;
  // Embedded originals (message/rfc822, text/rfc822-headers) kept per message.
  std::size_t max_embedded = 16;
  // Nested comment depth in structured fields (rspamd uses 8; we allow 32).
  std::size_t max_comment_depth = 32;
  // RFC 2047 encoded words decoded per field value.
  std::size_t max_encoded_words = 256;
};

// Defaults used everywhere unless configuration says otherwise.
inline constexpr Limits kDefaultLimits{};

}  // namespace backstop::mail
