// RFC 5322 header sections: splitting, unfolding, RFC 2047 decoding.
// Pure functions over untrusted bytes; no I/O. Accepts LF or CRLF, obsolete
// syntax (space before the colon), 8-bit bytes and broken lines (a line with
// no colon inside the header section is skipped and reported).
// Thread-safety: stateless; all functions are reentrant.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/text.h"
#include "mail/limits.h"

namespace backstop::mail {

// Conditions: limits hit or damage found while parsing. Reported, never fatal.
enum class Condition {
  kHeaderBytes,      // header section longer than Limits::max_header_bytes
  kHeaderCount,      // more fields than Limits::max_header_count
  kHeaderLine,       // a field value longer than Limits::max_field_bytes
  kBrokenHeaderLine, // a line in the header section without a colon
  kNoBody,           // no empty line ended the header section
  kMimeDepth,        // nesting deeper than Limits::max_mime_depth
  kMimeParts,        // more parts than Limits::max_parts
  kBodyTruncated,    // decoded text longer than Limits::max_body_text
  kMimeDamaged,      // GMime reported damage (missing boundary, bad encoding)
  kMessageTooLarge,  // a mailbox reader cut the message at its size cap
  kEmbeddedCount,    // more embedded originals than Limits::max_embedded
};
const char* condition_name(Condition c) noexcept;

struct HeaderField {
  std::string name;   // as written (case preserved), trailing blanks removed
  std::string value;  // unfolded raw value, leading blanks removed, bytes as-is
};

// An ordered header section. Lookups are case-insensitive on the name.
class HeaderList {
 public:
  const std::vector<HeaderField>& fields() const noexcept { return fields_; }
  std::vector<HeaderField>& mutable_fields() noexcept { return fields_; }
  // First field named `name`, or nullptr. The pointer is valid until the list changes.
  const HeaderField* find(std::string_view name) const noexcept;
  // Value of the first field named `name` (raw), or nullopt.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  // Every value of fields named `name`, in order.
  std::vector<std::string_view> all(std::string_view name) const;
  bool empty() const noexcept { return fields_.empty(); }
  std::size_t size() const noexcept { return fields_.size(); }

 private:
  std::vector<HeaderField> fields_;
};

struct HeaderParse {
  HeaderList headers;
  // Offset of the first body byte in the input (after the blank line), or the
  // input size when no blank line was found.
  std::size_t body_offset = 0;
  std::vector<Condition> conditions;
};

// Parses the header section at the start of `bytes`, stopping at the first
// empty line. Leading empty or blank-only lines (seen in exported bounces)
// are skipped first. Never fails: damage is reported in `conditions`.
HeaderParse parse_header_section(std::string_view bytes, const Limits& limits = kDefaultLimits);

// One field of a header section that arrives already split (a milter's
// HEADER events): the name, and the value after "name:" with any folding
// line breaks (CRLF or LF) still in it. Views into the caller's buffers.
struct FieldView {
  std::string_view name;
  std::string_view value;
};

// The header section `fields` form: the result of parse_header_section on the
// text "name: value\r\n" of every field followed by an empty line (same
// unfolding, limits and conditions; body_offset is the length of that text),
// without writing that text out. nullopt when that text would not be a
// header section of exactly these fields, and the caller must parse it
// instead: no fields, a name holding a line break, or a value holding an
// empty line (the section would end inside it).
std::optional<HeaderParse> parse_header_fields(std::span<const FieldView> fields,
                                               const Limits& limits = kDefaultLimits);

// Decodes RFC 2047 encoded words (B and Q, any iconv charset) in an
// unstructured value to UTF-8; invalid bytes become U+FFFD. Whitespace between
// adjacent encoded words is dropped, as RFC 2047 §6.2 says.
std::string decode_rfc2047(std::string_view value, const Limits& limits = kDefaultLimits);

// Length of the empty or blank-only lines (spaces, tabs, CR) at the start of
// `bytes`, up to and including the last LF before the first other byte.
std::size_t leading_blank_lines(std::string_view bytes) noexcept;

// The shared ASCII helpers (common/text.h), under the names mail has always used.
using text::ascii_lower;
using text::iequals;
using text::trim;

}  // namespace backstop::mail
