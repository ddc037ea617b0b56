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
    finish_field();
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      broken();
      return;
    }
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && is_blank(name.back())) name.remove_suffix(1);  // obs-ftext WSP ":"
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_ftext)) {
      broken();
      return;
    }
    if (out_.headers.size() >= limits_.max_header_count) {
      add_condition(out_.conditions, Condition::kHeaderCount);
      return;
    }
    std::string_view value = line.substr(colon + 1);
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

}  // namespace

HeaderParse parse_header_section(std::string_view bytes, const Limits& limits) {
  HeaderParse out;
  out.headers.mutable_fields().reserve(32);  // typical sections have 10-40 fields
  SectionBuilder builder(out, limits);
  std::size_t pos = leading_blank_lines(bytes);
  const std::size_t n = bytes.size();
  while (pos < n) {
    if (pos >= limits.max_header_bytes) {
      add_condition(out.conditions, Condition::kHeaderBytes);
      builder.finish_field();
      const std::size_t body = find_body_start(bytes, pos > 0 ? pos - 1 : 0);
      if (body == std::string_view::npos) {
        out.body_offset = n;
        add_condition(out.conditions, Condition::kNoBody);
      } else {
        out.body_offset = body;
      }
      return out;
    }
    const char* nl = static_cast<const char*>(std::memchr(bytes.data() + pos, '\n', n - pos));
    const std::size_t end = nl == nullptr ? n : static_cast<std::size_t>(nl - bytes.data());
    std::string_view line = bytes.substr(pos, end - pos);
    const std::size_t next = nl == nullptr ? n : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (nl == nullptr) break;  // a lone CR at the very end
      builder.finish_field();
      out.body_offset = next;
      return out;
    }
    if (line.size() > limits.max_header_bytes) line = line.substr(0, limits.max_header_bytes);
    if (is_blank(line.front())) {
      builder.continuation(line);
    } else {
      builder.start_line(line);
    }
    pos = next;
  }
  builder.finish_field();
  out.body_offset = n;
  add_condition(out.conditions, Condition::kNoBody);
  return out;
}

}  // namespace backstop::mail
