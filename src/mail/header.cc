#include "mail/header.h"

#include <algorithm>
#include <cstring>

#include "mail/charset.h"

namespace backstop::mail {

const char* condition_name(Condition c) noexcept {
  switch (c) {
    case Condition::kHeaderBytes: return "header_bytes";
    case Condition::kHeaderCount: return "header_count";
    case Condition::kHeaderLine: return "header_line";
    case Condition::kBrokenHeaderLine: return "broken_header_line";
    case Condition::kNoBody: return "no_body";
    case Condition::kMimeDepth: return "mime_depth";
    case Condition::kMimeParts: return "mime_parts";
    case Condition::kBodyTruncated: return "body_truncated";
    case Condition::kMimeDamaged: return "mime_damaged";
    case Condition::kMessageTooLarge: return "message_too_large";
    case Condition::kEmbeddedCount: return "embedded_count";
  }
  return "unknown";
}

namespace {

bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }

void add_condition(std::vector<Condition>& v, Condition c) {
  if (std::find(v.begin(), v.end(), c) == v.end()) v.push_back(c);
}

// RFC 5322 ftext: printable US-ASCII except the colon.
bool is_ftext(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u >= 33 && u <= 126 && c != ':';
}
// A field name: ftext only (checked in line, not through a function pointer).
bool is_field_name(std::string_view name) noexcept {
  return std::all_of(name.begin(), name.end(), [](char c) { return is_ftext(c); });
}

// Offset just past the first empty line at or after `from`, or npos.
std::size_t find_body_start(std::string_view s, std::size_t from) {
  std::size_t pos = from;
  while (pos < s.size()) {
    const char* nl = static_cast<const char*>(std::memchr(s.data() + pos, '\n', s.size() - pos));
    if (nl == nullptr) return std::string_view::npos;
    std::size_t next = static_cast<std::size_t>(nl - s.data()) + 1;
    if (next < s.size() && s[next] == '\n') return next + 1;
    if (next + 1 < s.size() && s[next] == '\r' && s[next + 1] == '\n') return next + 2;
    pos = next;
  }
  return std::string_view::npos;
}

}  // namespace

std::size_t leading_blank_lines(std::string_view bytes) noexcept {
  std::size_t pos = 0, skip = 0;
  while (pos < bytes.size()) {
    const char c = bytes[pos];
    if (c == '\n') {
      skip = pos + 1;
    } else if (!(c == ' ' || c == '\t' || c == '\r')) {
      break;
    }
    ++pos;
  }
  return skip;
}

const HeaderField* HeaderList::find(std::string_view name) const noexcept {
  for (const auto& f : fields_) {
    if (iequals(f.name, name)) return &f;
  }
  return nullptr;
}

std::optional<std::string_view> HeaderList::get(std::string_view name) const noexcept {
  const HeaderField* f = find(name);
  if (f == nullptr) return std::nullopt;
  return std::string_view(f->value);
}

std::vector<std::string_view> HeaderList::all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& f : fields_) {
    if (iequals(f.name, name)) out.emplace_back(f.value);
  }
  return out;
}

namespace {

// Incremental builder of one header section, applying the limits.
class SectionBuilder {
 public:
  SectionBuilder(HeaderParse& out, const Limits& limits) : out_(out), limits_(limits) {}

  // A line (without its line ending) that starts a new field or is broken.
  void start_line(std::string_view line) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      finish_field();
      broken();
      return;
    }
    start_field(line.substr(0, colon), line.substr(colon + 1));
  }

  // A line that starts a field: `name` before its first colon, `value` after.
  void start_field(std::string_view name, std::string_view value) {
    finish_field();
    while (!name.empty() && is_blank(name.back())) name.remove_suffix(1);  // obs-ftext WSP ":"
    if (name.empty() || !is_field_name(name)) {
      broken();
      return;
    }
    add_field(name, value);
  }

  // A field whose name is not empty and all ftext; `value` after the colon.
  void add_field(std::string_view name, std::string_view value) {
    finish_field();
    if (out_.headers.size() >= limits_.max_header_count) {
      add_condition(out_.conditions, Condition::kHeaderCount);
      return;
    }
    while (!value.empty() && is_blank(value.front())) value.remove_prefix(1);
    auto& fields = out_.headers.mutable_fields();
    fields.push_back(HeaderField{std::string(name), {}});
    open_ = true;
    append_value(value);
  }

  // A continuation line (starts with a blank), without its line ending.
  void continuation(std::string_view line) {
    if (!open_) {
      // Folded text with no field to belong to (first line, or after a
      // dropped or broken line).
      if (out_.headers.empty()) broken();
      return;
    }
    append_value(line);
  }

  void finish_field() {
    if (!open_) return;
    std::string& v = out_.headers.mutable_fields().back().value;
    while (!v.empty() && (is_blank(v.back()) || v.back() == '\r')) v.pop_back();
    open_ = false;
  }

 private:
  void broken() {
    add_condition(out_.conditions, Condition::kBrokenHeaderLine);
    open_ = false;
  }
  void append_value(std::string_view part) {
    std::string& v = out_.headers.mutable_fields().back().value;
    if (v.size() + part.size() > limits_.max_field_bytes) {
      add_condition(out_.conditions, Condition::kHeaderLine);
      part = part.substr(0, limits_.max_field_bytes - std::min(v.size(), limits_.max_field_bytes));
    }
    v.append(part);
  }

  HeaderParse& out_;
  const Limits& limits_;
  bool open_ = false;
};

// How feed_lines() stopped.
enum class LinesEnd {
  kEnd,        // at the end of the bytes
  kEmptyLine,  // after an empty line: the header section ends
  kLimit,      // at a line that starts at or past Limits::max_header_bytes
};

struct LinesStop {
  LinesEnd end;
  std::size_t pos;  // just past the empty line, at the line past the limit, or the end
};

// Feeds the lines of `bytes` from offset `pos` to `builder`; `base` is the
// offset of bytes[0] in the header section.
LinesStop feed_lines(SectionBuilder& builder, std::string_view bytes, std::size_t base, std::size_t pos,
                     const Limits& limits) {
  const std::size_t n = bytes.size();
  while (pos < n) {
    if (base + pos >= limits.max_header_bytes) return {LinesEnd::kLimit, pos};
    const char* nl = static_cast<const char*>(std::memchr(bytes.data() + pos, '\n', n - pos));
    const std::size_t end = nl == nullptr ? n : static_cast<std::size_t>(nl - bytes.data());
    std::string_view line = bytes.substr(pos, end - pos);
    const std::size_t next = nl == nullptr ? n : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (nl == nullptr) return {LinesEnd::kEnd, n};  // a lone CR at the very end
      return {LinesEnd::kEmptyLine, next};
    }
    if (line.size() > limits.max_header_bytes) line = line.substr(0, limits.max_header_bytes);
    if (is_blank(line.front())) {
      builder.continuation(line);
    } else {
      builder.start_line(line);
    }
    pos = next;
  }
  return {LinesEnd::kEnd, n};
}

// Whether the text `value` + "\r\n" holds an empty line: a LF followed by a
// LF, or by a CR and a LF.
bool holds_empty_line(std::string_view value) {
  for (std::size_t i = value.find('\n'); i != std::string_view::npos; i = value.find('\n', i + 1)) {
    const std::size_t rest = value.size() - i - 1;
    if (rest == 0 || value[i + 1] == '\n' || (value[i + 1] == '\r' && rest >= 2 && value[i + 2] == '\n')) {
      return true;
    }
  }
  return false;
}

}  // namespace

HeaderParse parse_header_section(std::string_view bytes, const Limits& limits) {
  HeaderParse out;
  out.headers.mutable_fields().reserve(32);  // typical sections have 10-40 fields
  SectionBuilder builder(out, limits);
  const LinesStop stop = feed_lines(builder, bytes, 0, leading_blank_lines(bytes), limits);
  switch (stop.end) {
    case LinesEnd::kEmptyLine:
      builder.finish_field();
      out.body_offset = stop.pos;
      return out;
    case LinesEnd::kLimit: {
      add_condition(out.conditions, Condition::kHeaderBytes);
      builder.finish_field();
      const std::size_t body = find_body_start(bytes, stop.pos > 0 ? stop.pos - 1 : 0);
      if (body == std::string_view::npos) {
        out.body_offset = bytes.size();
        add_condition(out.conditions, Condition::kNoBody);
      } else {
        out.body_offset = body;
      }
      return out;
    }
    case LinesEnd::kEnd:
      break;
  }
  builder.finish_field();
  out.body_offset = bytes.size();
  add_condition(out.conditions, Condition::kNoBody);
  return out;
}

std::optional<HeaderParse> parse_header_fields(std::span<const FieldView> fields, const Limits& limits) {
  if (fields.empty()) return std::nullopt;  // the text would be an empty line: skipped as leading blank
  HeaderParse out;
  out.headers.mutable_fields().reserve(std::min(fields.size(), limits.max_header_count));
  SectionBuilder builder(out, limits);
  std::string text;     // one field's text, for a field that needs the line parser
  std::size_t pos = 0;  // offset of the current field's text in the section
  bool cut = false;     // max_header_bytes reached: the remaining fields are only checked
  for (const FieldView& f : fields) {
    // A field with a name of ftext only (no colon, blank or line break) is
    // read in place: its first line "name: value" gives that name and the
    // value's first line, the rest of the value goes to the line reader as it
    // is. Others (and a value ending in CR, whose last line the CRLF after it
    // would change) go through the line reader as the text they stand for.
    const bool ftext_name = !f.name.empty() && is_field_name(f.name);
    if (!ftext_name && f.name.find('\n') != std::string_view::npos) return std::nullopt;
    const std::size_t nl = f.value.find('\n');
    if (nl != std::string_view::npos && holds_empty_line(f.value.substr(nl))) return std::nullopt;
    const std::size_t size = f.name.size() + f.value.size() + 4;  // "name: value\r\n"
    if (!cut && pos >= limits.max_header_bytes) cut = true;
    if (!cut) {
      std::string_view first = f.value.substr(0, nl);
      if (nl != std::string_view::npos && !first.empty() && first.back() == '\r') first.remove_suffix(1);
      const bool in_place = ftext_name && f.name.size() + 2 + first.size() <= limits.max_header_bytes &&
                            (nl == std::string_view::npos || f.value.back() != '\r');
      if (in_place) {
        builder.add_field(f.name, first);
        if (nl != std::string_view::npos) {
          cut = feed_lines(builder, f.value, pos + f.name.size() + 2, nl + 1, limits).end == LinesEnd::kLimit;
        }
      } else {
        text.assign(f.name).append(": ").append(f.value).append("\r\n");
        cut = feed_lines(builder, text, pos, 0, limits).end == LinesEnd::kLimit;
      }
    }
    pos += size;
  }
  // The empty line ending the section counts as a line too.
  if (cut || pos >= limits.max_header_bytes) add_condition(out.conditions, Condition::kHeaderBytes);
  builder.finish_field();
  out.body_offset = pos + 2;
  return out;
}

}  // namespace backstop::mail
