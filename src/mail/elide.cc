// The elider (elide.h). It reads a multipart body the way GMime 3.2's parser
// does, and leaves a part's content out only where both readings must agree:
//  - a delimiter line is one that starts with "--boundary" of the innermost
//    or any enclosing multipart, optionally "--" (the closing one), then only
//    white space (SP, HT, CR, LF), the innermost boundary tried first, the
//    closing form before the other (GMime's check_boundary/is_boundary);
//  - a part's header section is read only when every line is a field
//    ("name:" with a name of printable ASCII) or a folded continuation, no
//    line is a delimiter, there is at most one Content-Type field, and an
//    empty line ends it; anything else and the part is passed through;
//  - a nested multipart is entered (its boundary pushed) only when its
//    Content-Type is "multipart/x" with a boundary the elider can follow;
//    where the elider does not enter, it leaves nothing out either, and goes
//    on looking only for the boundaries it knows, which GMime also checks;
//  - the content of an attachment leaf runs to the next delimiter line, less
//    the line break before that line (CRLF when the delimiter line ends in
//    CR, else LF: GMime decides on the delimiter line, so it is done here).
// Delimiter lines are found with memchr for '-', which base64 never holds, so
// an attachment costs a scan at memory speed instead of GMime's per-line work.
#include "mail/elide.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "mail/gmime_init.h"
#include "mail/header.h"

namespace backstop::mail::detail {
namespace {

// Multipart nesting the elider follows. Real mail nests multiparts < 6 deep;
// deeper ones are passed through whole (GMime still parses them).
constexpr std::size_t kMaxElisionDepth = 16;
// Bytes of a part's header section the elider reads before giving up on the
// part (passing it through); real part headers are < 2 KiB.
constexpr std::size_t kMaxPartHeaderBytes = 64 * 1024;
// Content shorter than this is passed through: leaving it out saves less
// than reading the part's type and the field added for it cost (~5 us;
// GMime scans ~1.5 GB/s: break-even is above 11 KB, mail_bench
// BM_ParseAttachment against BM_ParseAttachmentWhole).
constexpr std::size_t kMinElidedBytes = 16 * 1024;
// Longest boundary the elider follows; RFC 2046 allows 70 characters.
constexpr std::size_t kMaxBoundaryLength = 256;

// Top-level media types whose content classification never reads (the
// Walker in message.cc decodes only text/* and message/* leaves).
constexpr std::string_view kAttachmentTypes[] = {"application", "image", "audio", "video", "font", "model"};

bool is_lwsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// RFC 2045 token characters.
bool is_token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 32 || u >= 127) return false;
  return std::strchr("()<>@,;:\\\"/[]?=", c) == nullptr;
}

// RFC 2046 bcharsnospace.
bool is_boundary_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) return true;
  return std::strchr("'()+_,-./:=?", c) != nullptr && c != '\0';
}

// "type/subtype" at the start of a Content-Type value (after blanks), lower-
// cased type; empty when the value does not start that way.
std::string media_type(std::string_view value) {
  std::size_t i = 0;
  while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
  const std::size_t type_start = i;
  while (i < value.size() && is_token_char(value[i])) ++i;
  if (i == type_start || i >= value.size() || value[i] != '/') return {};
  const std::size_t sub_start = ++i;
  while (i < value.size() && is_token_char(value[i])) ++i;
  if (i == sub_start) return {};
  return ascii_lower(value.substr(type_start, sub_start - 1 - type_start));
}

struct GmimeContentType {
  void operator()(GMimeContentType* p) const noexcept { g_object_unref(p); }
};

// One line of the body: [start, end) without its '\n'; next is the offset
// after the '\n' (or the body size).
struct Line {
  std::size_t start = 0;
  std::size_t end = 0;
  std::size_t next = 0;
};

// Whether `text` (a line without its final CR) is the delimiter `delim`
// ("--boundary"), closing when `closing`, followed by white space only.
bool is_delimiter(std::string_view text, std::string_view delim, bool closing) {
  const std::size_t n = delim.size() + (closing ? 2 : 0);
  if (text.size() < n || text.substr(0, delim.size()) != delim) return false;
  if (closing && text.substr(delim.size(), 2) != "--") return false;
  for (char c : text.substr(n)) {
    if (!is_lwsp(c)) return false;
  }
  return true;
}

// Calls `f(line_start)` for each line of `body` starting in [begin, end)
// that append_body_repaired gives a leading tab: a "boundary=" line (any
// case of the 'b') right after a line whose last non-blank byte is ';'.
template <typename F>
void for_each_repair(std::string_view body, std::size_t begin, std::size_t end, F&& f) {
  static constexpr std::string_view kParam = "oundary=";
  const std::size_t from = begin + 1;  // `at` points after the 'b'
  for (std::size_t at = body.find(kParam, from); at != std::string_view::npos && at - 1 < end;
       at = body.find(kParam, at + 1)) {
    if (at < 3 || (body[at - 1] != 'b' && body[at - 1] != 'B') || body[at - 2] != '\n') continue;
    const std::size_t line_start = at - 1;
    std::size_t prev_end = line_start - 1;  // the '\n' ending the previous line
    if (prev_end > 0 && body[prev_end - 1] == '\r') --prev_end;
    std::size_t k = prev_end;
    while (k > 0 && (body[k - 1] == ' ' || body[k - 1] == '\t')) --k;
    if (k == 0 || body[k - 1] != ';') continue;
    f(line_start);
  }
}

class Elider {
 public:
  Elider(std::string& out, std::string_view body) : out_(out), body_(body) {}

  void run(std::string_view boundary) {
    stack_.push_back("--" + std::string(boundary));
    std::size_t pos = 0;
    while (!stack_.empty()) {
      const std::optional<Delimiter> d = next_delimiter(pos);
      if (!d) break;
      stack_.resize(d->level + 1);
      if (d->closing) {
        stack_.pop_back();
        pos = d->line.next;
        continue;
      }
      pos = part(d->line.next);
    }
    copy_to(body_.size());
  }

 private:
  struct Delimiter {
    Line line;
    std::size_t level = 0;  // index into stack_
    bool closing = false;
  };

  struct PartHeader {
    std::size_t end = 0;            // offset of the empty line ending it
    std::size_t content_start = 0;  // offset after that empty line
    std::string content_type;       // unfolded value ("" when absent)
  };

  Line line_at(std::size_t pos) const {
    const void* nl = std::memchr(body_.data() + pos, '\n', body_.size() - pos);
    if (nl == nullptr) return Line{pos, body_.size(), body_.size()};
    const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - body_.data());
    return Line{pos, end, end + 1};
  }

  // The line's text as GMime compares it with boundaries: one final CR removed.
  std::string_view compared(const Line& l) const {
    std::string_view text = body_.substr(l.start, l.end - l.start);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    return text;
  }

  std::optional<Delimiter> delimiter_at(const Line& l) const {
    const std::string_view text = compared(l);
    if (text.size() < 2 || text[0] != '-' || text[1] != '-') return std::nullopt;
    for (std::size_t k = stack_.size(); k-- > 0;) {
      if (is_delimiter(text, stack_[k], true)) return Delimiter{l, k, true};
      if (is_delimiter(text, stack_[k], false)) return Delimiter{l, k, false};
    }
    return std::nullopt;
  }

  // The first delimiter line starting at or after `pos` (a line start).
  std::optional<Delimiter> next_delimiter(std::size_t pos) const {
    while (pos < body_.size()) {
      const void* dash = std::memchr(body_.data() + pos, '-', body_.size() - pos);
      if (dash == nullptr) return std::nullopt;
      const auto i = static_cast<std::size_t>(static_cast<const char*>(dash) - body_.data());
      const Line l = line_at(i);
      if (i == 0 || body_[i - 1] == '\n') {
        if (auto d = delimiter_at(l)) return d;
      }
      pos = l.next;
    }
    return std::nullopt;
  }

  // The header section of the part starting at `start`, when the elider can
  // read it as GMime does (see the file comment).
  std::optional<PartHeader> read_header(std::size_t start) const {
    PartHeader h;
    std::size_t pos = start;
    bool first = true, in_content_type = false;
    int content_types = 0;
    while (pos < body_.size() && pos - start <= kMaxPartHeaderBytes) {
      const Line l = line_at(pos);
      const std::string_view text = body_.substr(l.start, l.end - l.start);
      if (text.empty() || text == "\r") {
        if (l.end == body_.size()) return std::nullopt;  // no line break: GMime may read it otherwise
        h.end = l.start;
        h.content_start = l.next;
        if (content_types > 1) return std::nullopt;
        return h;
      }
      if (delimiter_at(l)) return std::nullopt;
      if (text[0] == ' ' || text[0] == '\t') {
        if (first) return std::nullopt;
        if (in_content_type) h.content_type.append(compared(l));
      } else {
        std::size_t n = 0;
        while (n < text.size() && text[n] != ':' && static_cast<unsigned char>(text[n]) > 32 &&
               static_cast<unsigned char>(text[n]) < 127) {
          ++n;
        }
        if (n == 0 || n >= text.size() || text[n] != ':') return std::nullopt;
        in_content_type = iequals(text.substr(0, n), "content-type");
        if (in_content_type) {
          ++content_types;
          h.content_type.assign(compared(l).substr(n + 1));
        }
      }
      first = false;
      pos = l.next;
    }
    return std::nullopt;
  }

  // Handles the part whose header section starts at `start`; returns where
  // the search for the next delimiter goes on.
  std::size_t part(std::size_t start) {
    const std::optional<PartHeader> h = read_header(start);
    if (!h || h->content_type.empty()) return start;  // passed through; default text/plain
    const std::string type = media_type(h->content_type);
    if (type == "multipart") {
      if (stack_.size() >= kMaxElisionDepth) return start;
      const std::optional<std::string> b = elidable_multipart_boundary(h->content_type);
      if (!b) return start;
      stack_.push_back("--" + *b);
      return h->content_start;  // its preamble, then its parts
    }
    bool attachment = false;
    for (std::string_view t : kAttachmentTypes) attachment = attachment || type == t;
    if (!attachment) return start;
    const std::optional<Delimiter> d = next_delimiter(h->content_start);
    if (!d) return start;  // runs to the end of the input: passed through
    if (d->line.start - h->content_start < kMinElidedBytes || !gmime_agrees(h->content_type, type)) {
      return d->line.start;  // kept; the search goes on from its end
    }
    // GMime's length: the content less the line break that belongs to the
    // delimiter line (2 bytes when that line ends in CR, else 1).
    std::size_t length = d->line.start - h->content_start;
    if (length > 0) {
      const bool cr = d->line.end > d->line.start && body_[d->line.end - 1] == '\r';
      const std::size_t eol = cr ? 2 : 1;
      if (length < eol) return start;
      length -= eol;
    }
    // The whole parse gives GMime the content repaired (append_body_repaired):
    // count the tabs it gains.
    for_each_repair(body_, h->content_start, h->content_start + length, [&](std::size_t) { ++length; });
    copy_to(h->end);
    const std::string_view blank = body_.substr(h->end, h->content_start - h->end);
    out_.append(kElidedField).append(": ").append(std::to_string(length)).append(blank);
    copy_to(h->content_start);  // the empty line
    copied_ = d->line.start;    // the content is left out
    return d->line.start;
  }

  // GMime reads the same media type from the value (its full parser).
  static bool gmime_agrees(const std::string& value, const std::string& type) {
    std::unique_ptr<GMimeContentType, GmimeContentType> ct(g_mime_content_type_parse(nullptr, value.c_str()));
    if (!ct) return false;
    const char* t = g_mime_content_type_get_media_type(ct.get());
    return t != nullptr && ascii_lower(t) == type;
  }

  void copy_to(std::size_t end) {
    if (end > copied_) append_body_repaired(out_, body_.substr(copied_, end - copied_));
    copied_ = std::max(copied_, end);
  }

  std::string& out_;
  std::string_view body_;
  std::vector<std::string> stack_;  // "--boundary", outermost first
  std::size_t copied_ = 0;          // bytes of body_ appended (or left out) so far
};

}  // namespace

// Some mailers (seen from Apache James and Verizon) write a part's
// Content-Type parameter on a line of its own without the leading white
// space of a folded line:
//   Content-Type: multipart/alternative;
//   boundary="----=_Part_1"
// GMime takes "boundary=..." (no colon) for the start of the part's body and
// never finds the nested boundary. Such a line, right after a header line
// that ends in ';', is appended as a folded continuation (a tab in front).
// Only "boundary=" lines are repaired: the one parameter whose loss breaks
// the structure.
void append_body_repaired(std::string& out, std::string_view body) {
  std::size_t done = 0;  // bytes of `body` appended so far
  for_each_repair(body, 0, body.size(), [&](std::size_t line_start) {
    out.append(body.substr(done, line_start - done)).push_back('\t');
    done = line_start;
  });
  out.append(body.substr(done));
}

std::optional<std::string> elidable_multipart_boundary(std::string_view content_type) {
  if (media_type(content_type) != "multipart") return std::nullopt;
  ensure_gmime();
  const std::string value(content_type.substr(0, content_type.find('\0')));
  std::unique_ptr<GMimeContentType, GmimeContentType> ct(g_mime_content_type_parse(nullptr, value.c_str()));
  if (!ct) return std::nullopt;
  const char* t = g_mime_content_type_get_media_type(ct.get());
  const char* b = g_mime_content_type_get_parameter(ct.get(), "boundary");
  if (t == nullptr || ascii_lower(t) != "multipart" || b == nullptr) return std::nullopt;
  const std::string_view boundary(b);
  if (boundary.empty() || boundary.size() > kMaxBoundaryLength) return std::nullopt;
  for (char c : boundary) {
    if (!is_boundary_char(c)) return std::nullopt;
  }
  // The value must hold the boundary as written (no RFC 2231 continuations
  // or encodings, which the elider does not reproduce).
  if (content_type.find(boundary) == std::string_view::npos) return std::nullopt;
  return std::string(boundary);
}

void append_body_elided(std::string& out, std::string_view body, std::string_view boundary) {
  if (boundary.empty() || body.size() < kMinElidedBytes) {
    append_body_repaired(out, body);
    return;
  }
  ensure_gmime();
  Elider(out, body).run(boundary);
}

}  // namespace backstop::mail::detail
