#include "mail/text_util.h"

#include <array>

#include "mail/charset.h"
#include "mail/header.h"

namespace backstop::mail::detail {
namespace {

// Longest tag name or entity name examined; longer ones are plain text.
constexpr std::size_t kMaxTagName = 16;
constexpr std::size_t kMaxEntity = 12;

void append_code_point(std::string& out, unsigned long cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes the character reference at s[i] == '&'; returns bytes consumed (0 if none).
std::size_t entity(std::string_view s, std::size_t i, std::string& out) {
  const std::size_t semi = s.substr(i, kMaxEntity + 2).find(';');
  if (semi == std::string_view::npos || semi < 2) return 0;
  const std::string_view name = s.substr(i + 1, semi - 1);
  if (name[0] == '#') {
    unsigned long cp = 0;
    const bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
    const std::string_view digits = name.substr(hex ? 2 : 1);
    if (digits.empty()) return 0;
    for (char c : digits) {
      int v;
      if (c >= '0' && c <= '9') v = c - '0';
      else if (hex && c >= 'a' && c <= 'f') v = c - 'a' + 10;
      else if (hex && c >= 'A' && c <= 'F') v = c - 'A' + 10;
      else return 0;
      cp = cp * (hex ? 16 : 10) + static_cast<unsigned long>(v);
      if (cp > 0x10FFFF) cp = 0x110000;
    }
    append_code_point(out, cp);
    return semi + 1;
  }
  struct Named { std::string_view name; unsigned long cp; };
  static constexpr std::array<Named, 10> kNamed = {{{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'},
      {"apos", '\''}, {"nbsp", ' '}, {"copy", 0xA9}, {"reg", 0xAE}, {"hellip", 0x2026}, {"mdash", 0x2014}}};
  for (const Named& n : kNamed) {
    if (iequals(name, n.name)) {
      append_code_point(out, n.cp);
      return semi + 1;
    }
  }
  return 0;
}

bool is_block_tag(std::string_view t) {
  static constexpr std::array<std::string_view, 14> kBlocks = {
      "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre"};
  for (std::string_view b : kBlocks) {
    if (iequals(t, b)) return true;
  }
  return false;
}

// Lower-case tag name at s[i] == '<' (without '/'), and whether it closes.
std::string tag_name(std::string_view s, std::size_t i) {
  std::size_t j = i + 1;
  if (j < s.size() && s[j] == '/') ++j;
  std::string name;
  while (j < s.size() && name.size() < kMaxTagName &&
         ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9'))) {
    name.push_back(ascii_lower(s[j]));
    ++j;
  }
  return name;
}

// Position after the case-insensitive `needle` at or after `from`, or s.size().
std::size_t skip_past(std::string_view s, std::size_t from, std::string_view needle) {
  for (std::size_t k = from; k + needle.size() <= s.size(); ++k) {
    if (iequals(s.substr(k, needle.size()), needle)) return k + needle.size();
  }
  return s.size();
}

class TextSink {
 public:
  explicit TextSink(std::size_t max) : max_(max) {}
  void text(char c) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space_ = true;
      return;
    }
    if (space_ && !out_.empty() && out_.back() != '\n') out_.push_back(' ');
    space_ = false;
    out_.push_back(c);
  }
  void raw(std::string_view s) {
    for (char c : s) text(c);
  }
  void newline() {
    space_ = false;
    if (!out_.empty() && !(out_.size() >= 2 && out_[out_.size() - 1] == '\n' && out_[out_.size() - 2] == '\n')) {
      out_.push_back('\n');
    }
  }
  // Past the limit, not at it: take() then cuts at a character boundary, so a
  // multi-byte character that straddles the limit is never left half-written.
  bool full() const { return out_.size() > max_; }
  HtmlText take() {
    if (out_.size() <= max_) return {std::move(out_), false};
    HtmlText cut;
    cut.truncated = append_utf8_prefix(cut.text, out_, max_);
    return cut;
  }

 private:
  std::string out_;
  std::size_t max_;
  bool space_ = false;
};

bool is_recipient_field(std::string_view lower) {
  return lower == "final-recipient" || lower == "original-recipient" || lower == "action" || lower == "status";
}

}  // namespace

HtmlText html_to_text(std::string_view s, std::size_t max_out) {
  TextSink sink(max_out);
  std::size_t i = 0;
  while (i < s.size() && !sink.full()) {
    const char c = s[i];
    if (c == '<') {
      if (s.substr(i, 4) == "<!--") {
        const std::size_t end = s.find("-->", i + 4);
        i = end == std::string_view::npos ? s.size() : end + 3;
        continue;
      }
      const std::string name = tag_name(s, i);
      const bool closing = i + 1 < s.size() && s[i + 1] == '/';
      if (name.empty() && !closing && !(i + 1 < s.size() && (s[i + 1] == '!' || s[i + 1] == '?'))) {
        sink.text(c);  // a bare '<' in text
        ++i;
        continue;
      }
      const std::size_t gt = s.find('>', i);
      i = gt == std::string_view::npos ? s.size() : gt + 1;
      if (!closing && (name == "script" || name == "style")) {
        i = skip_past(s, i, name == "script" ? "</script" : "</style");
        const std::size_t gt2 = s.find('>', i);
        i = gt2 == std::string_view::npos ? s.size() : gt2 + 1;
        continue;
      }
      if (is_block_tag(name)) sink.newline();
      else if (name == "td" || name == "th") sink.text(' ');
      continue;
    }
    if (c == '&') {
      std::string decoded;
      if (const std::size_t n = entity(s, i, decoded); n > 0) {
        sink.raw(decoded);
        i += n;
        continue;
      }
    }
    sink.text(c);
    ++i;
  }
  return sink.take();
}

DeliveryStatus parse_delivery_status(std::string_view body, const Limits& limits) {
  DeliveryStatus ds;
  std::size_t pos = 0;
  bool first = true;
  while (pos < body.size() && ds.per_recipient.size() < limits.max_addresses) {
    // Skip blank lines between groups (and leading ones).
    while (pos < body.size()) {
      const std::size_t nl = body.find('\n', pos);
      const std::string_view line = body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      if (!trim(line).empty()) break;
      pos = nl == std::string_view::npos ? body.size() : nl + 1;
    }
    if (pos >= body.size()) break;
    HeaderParse hp = parse_header_section(body.substr(pos), limits);
    const std::size_t consumed = hp.body_offset == 0 ? body.size() - pos : hp.body_offset;
    pos += consumed;
    DsnFields group;
    for (HeaderField& f : hp.headers.mutable_fields()) {
      group.fields.push_back(HeaderField{ascii_lower(f.name), std::string(trim(f.value))});
    }
    if (group.fields.empty()) continue;
    bool recipient_only = true;
    bool any_recipient = false;
    for (const HeaderField& f : group.fields) {
      if (is_recipient_field(f.name)) any_recipient = true;
      if (f.name == "reporting-mta" || f.name == "received-from-mta" || f.name == "arrival-date" ||
          f.name == "original-envelope-id" || f.name == "x-postfix-queue-id") {
        recipient_only = false;
      }
    }
    if (first && !(recipient_only && any_recipient)) {
      ds.per_message = std::move(group);
    } else {
      ds.per_recipient.push_back(std::move(group));
    }
    first = false;
  }
  return ds;
}

}  // namespace backstop::mail::detail
