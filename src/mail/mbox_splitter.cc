// MboxSplitter (mailbox.h): incremental, bounded splitting of mbox bytes.
//
// The rule: a line starts a new message when it is a From_ line ("From ",
// a sender word, then a date-ish tail: a time H:MM plus a year or a month
// name) and it is at the start of the input, after an empty line, or right
// after another From_ line, except in two places where bounces and
// challenges embed their original with an unquoted From_ line:
//  - the first line of a MIME part's body, inside an open top-level
//    multipart (its header declared a boundary whose closing delimiter
//    "--boundary--" has not been seen): a delimiter line "--something", at
//    most kMaxPartHeaderLines header lines, an empty line, then the From_
//    line, e.g. after "Content-Type: message/rfc822";
//  - after an empty line when the last non-empty line before it ends with
//    ':' ("The original message follows:"), the way non-MIME bounces and
//    challenges introduce a quoted original.
// Both exceptions look only at the few lines right before the From_ line, so
// a broken message (a multipart never closed, a truncated part) can absorb at
// most the next message, never the rest of the mbox: a real separator
// follows the end of the previous message, which is not a bare part header.
// (An earlier rule suppressed every From_ line while the top-level multipart
// was open; one unclosed multipart then swallowed all that followed.)
// The empty line before a From_ line belongs to
// the separator, not to the message. Lines ">From ", ">>From ", ... lose one
// '>' (mboxrd unquoting; for mboxo this undoes the writer's quoting).
// RawMessage::offset is the offset of the From_ line (or of the first byte
// for text before any From_ line).
#include <cstring>
#include <deque>

#include "mail/header.h"
#include "mail/mailbox.h"
#include "mail/mbox_internal.h"

namespace backstop::mail {
namespace {

// Longest line held back to decide whether it is a From_ line. Real From_
// lines are < 200 bytes; a longer line is body text, streamed through.
constexpr std::size_t kMaxHeldLine = 4096;
// Content-Type value kept while reading a message's header section, to find
// its boundary; real values are < 300 bytes.
constexpr std::size_t kMaxContentType = 4096;
// RFC 2046 §5.1.1 limits a boundary to 70 characters; allow broken mailers more.
constexpr std::size_t kMaxBoundary = 256;
// Header lines (fields and continuations) of a MIME part after which the
// first body line may still be an embedded original's From_ line. Real part
// headers have < 10 lines; a longer run of header-like lines after a
// delimiter is not treated as a part header.
constexpr std::size_t kMaxPartHeaderLines = 64;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool has_time(std::string_view s) {
  for (std::size_t i = 1; i + 2 < s.size(); ++i) {
    if (s[i] == ':' && is_digit(s[i - 1]) && is_digit(s[i + 1])) return true;
  }
  return false;
}

bool has_year_or_month(std::string_view s) {
  for (std::size_t i = 0; i + 4 <= s.size(); ++i) {
    if (is_digit(s[i]) && is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]) &&
        (s[i] == '1' || s[i] == '2') && (i + 4 == s.size() || !is_digit(s[i + 4])) &&
        (i == 0 || !is_digit(s[i - 1]))) {
      return true;
    }
  }
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (std::string_view m : kMonths) {
    if (s.find(m) != std::string_view::npos) return true;
  }
  return false;
}


}  // namespace

namespace detail {

bool is_from_line(std::string_view line) noexcept {
  if (line.size() < 6 || line.substr(0, 5) != "From ") return false;
  const std::string_view rest = line.substr(5);
  return rest.find_first_not_of(" \t") != std::string_view::npos && has_time(rest) && has_year_or_month(rest);
}

bool looks_like_mail(std::string_view prefix) noexcept {
  prefix.remove_prefix(leading_blank_lines(prefix));
  std::string_view line = prefix.substr(0, prefix.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (is_from_line(line)) return true;
  std::size_t i = 0;
  while (i < line.size()) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c < 33 || c > 126 || c == ':') break;
    ++i;
  }
  if (i == 0) return false;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i < line.size() && line[i] == ':';
}

}  // namespace detail

namespace {

std::string envelope_of(std::string_view line) {
  std::string_view rest = line.substr(5);
  const std::size_t start = rest.find_first_not_of(" \t");
  if (start == std::string_view::npos) return {};
  rest = rest.substr(start);
  return std::string(rest.substr(0, rest.find_first_of(" \t")));
}

// The boundary parameter of a multipart Content-Type value, or "".
std::string multipart_boundary(std::string_view ct) {
  const std::string lower = ascii_lower(ct);
  if (lower.find("multipart/") == std::string::npos) return {};
  const std::size_t at = lower.find("boundary=");
  if (at == std::string::npos) return {};
  std::string_view v = ct.substr(at + 9);
  if (!v.empty() && v.front() == '"') {
    v.remove_prefix(1);
    v = v.substr(0, v.find('"'));
  } else {
    v = v.substr(0, v.find_first_of("; \t"));
  }
  if (v.empty() || v.size() > kMaxBoundary) return {};
  return std::string(v);
}

// A MIME delimiter line "--boundary" (not a closing one) of some part,
// nested or not: the top-level boundary exactly, or "--" then a plausible
// boundary (no white space, not ending in "--" as closing delimiters and
// "-----Original Message-----" do).
bool is_delimiter(std::string_view bare, std::string_view top_boundary) {
  if (bare.size() < 3 || bare.substr(0, 2) != "--") return false;
  const std::string_view b = bare.substr(2);
  if (b == top_boundary) return true;
  if (b.size() > kMaxBoundary || (b.size() >= 2 && b.substr(b.size() - 2) == "--")) return false;
  for (char c : b) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127) return false;
  }
  return true;
}

// A header field line "Name: value" or a continuation line.
bool is_header_line(std::string_view bare) {
  if (bare.empty()) return false;
  if (bare.front() == ' ' || bare.front() == '\t') return true;
  std::size_t i = 0;
  while (i < bare.size()) {
    const auto c = static_cast<unsigned char>(bare[i]);
    if (c < 33 || c > 126 || c == ':') break;
    ++i;
  }
  return i > 0 && i < bare.size() && bare[i] == ':';
}

std::string_view strip_eol(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

struct MboxSplitter::State {
  std::size_t max_bytes;
  std::deque<Result<RawMessage>> ready;
  std::string held;             // start of the current line (< kMaxHeldLine), no '\n'
  bool long_line = false;       // current line was too long to hold; streaming it
  std::uint64_t line_start = 0; // offset of the current line
  bool at_start = true;         // no line seen yet
  bool prev_empty = false;      // previous line was empty
  bool prev_from = false;       // previous line was a From_ line
  bool colon_intro = false;     // last non-empty line ended with ':'
  // The open message.
  bool open = false;
  bool too_large = false;
  std::size_t size = 0;  // bytes of the message so far (counted even when dropped)
  std::size_t index = 0;
  RawMessage msg;
  // MIME tracking of the open message (see the rule above).
  bool in_headers = false;
  bool in_content_type = false;  // the last header line was Content-Type
  std::string content_type;
  std::string boundary;
  bool multipart_open = false;
  bool part_header = false;       // in the header lines of a MIME part
  std::size_t part_header_lines = 0;
  bool part_body_start = false;   // the previous line ended a part's header lines

  void track_mime(std::string_view text) {
    const std::string_view bare = strip_eol(text);
    if (in_headers) {
      if (bare.empty()) {
        in_headers = false;
        boundary = multipart_boundary(content_type);
        multipart_open = !boundary.empty();
        std::string().swap(content_type);
      } else if (bare.front() == ' ' || bare.front() == '\t') {
        if (in_content_type) content_type.append(bare.substr(0, kMaxContentType - std::min(kMaxContentType, content_type.size())));
      } else {
        in_content_type = bare.size() >= 13 && iequals(bare.substr(0, 13), "content-type:");
        if (in_content_type) content_type.assign(bare.substr(13, kMaxContentType));
      }
      return;
    }
    part_body_start = false;
    if (!multipart_open) return;
    if (bare.size() >= boundary.size() + 4 && bare.substr(0, 2) == "--" &&
        bare.substr(2, boundary.size()) == boundary && bare.substr(2 + boundary.size(), 2) == "--") {
      multipart_open = false;
      part_header = false;
      return;
    }
    if (is_delimiter(bare, boundary)) {
      part_header = true;
      part_header_lines = 0;
    } else if (part_header) {
      if (bare.empty()) {
        part_header = false;
        part_body_start = true;
      } else if (is_header_line(bare) && part_header_lines < kMaxPartHeaderLines) {
        ++part_header_lines;
      } else {
        part_header = false;
      }
    }
  }

  void close_message() {
    if (!open) return;
    open = false;
    if (prev_empty && !too_large) {  // the blank line before the From_ line is the separator
      std::string& b = msg.bytes;
      if (!b.empty() && b.back() == '\n') b.pop_back();
      if (!b.empty() && b.back() == '\r') b.pop_back();
    }
    if (too_large) {
      ready.emplace_back(unexpected<Error>(Error(Code::kTooLarge,
          "message " + std::to_string(msg.index) + " at offset " + std::to_string(msg.offset) + " has " +
          std::to_string(size) + " bytes, over the cap of " + std::to_string(max_bytes))));
    } else if (msg.bytes.find_first_not_of("\r\n") == std::string::npos) {
      ready.emplace_back(unexpected<Error>(Error(Code::kMalformed,
          "empty message " + std::to_string(msg.index) + " at offset " + std::to_string(msg.offset))));
    } else {
      ready.emplace_back(std::move(msg));
    }
    msg = RawMessage{};
  }

  void open_message(std::string envelope) {
    open = true;
    too_large = false;
    size = 0;
    msg = RawMessage{};
    msg.index = index++;
    msg.offset = line_start;
    msg.envelope_from = std::move(envelope);
    in_headers = true;
    in_content_type = false;
    content_type.clear();
    boundary.clear();
    multipart_open = false;
    part_header = false;
    part_body_start = false;
  }

  // Appends body bytes of the open message, enforcing the size cap.
  void append(std::string_view bytes) {
    size += bytes.size();
    if (too_large) return;
    if (size > max_bytes) {
      too_large = true;
      std::string().swap(msg.bytes);
      return;
    }
    msg.bytes.append(bytes);
  }

  // The start of a body line (possibly all of it): opens a message if none
  // and undoes one level of ">From " quoting.
  void body_line_start(std::string_view text) {
    if (!open) open_message({});
    track_mime(text);
    std::size_t gt = 0;
    while (gt < text.size() && text[gt] == '>') ++gt;
    if (gt > 0 && text.substr(gt, 5) == "From ") text.remove_prefix(1);
    append(text);
  }

  // Whether the next lines may go through plain_run: inside a message body,
  // right after a line that was neither empty nor a From_ line, and outside
  // any header section the MIME tracking reads.
  bool run_allowed() const {
    return open && !at_start && !prev_empty && !prev_from && !in_headers && !part_header && held.empty() &&
           !long_line;
  }

  // Takes the longest run of complete lines at the start of `data` that
  // cannot change the splitter's state beyond what plain_run sets: each
  // starts with a byte other than LF, CR, SP, HT, '>' and '-' (so none is
  // empty, a quoted or unquoted From_ line in separator position, a MIME
  // delimiter or a folded header line). Base64 and most text lines qualify.
  // Returns the bytes taken (0 when the first line does not qualify).
  std::size_t plain_run(std::string_view data) {
    std::size_t pos = 0, last = 0;
    while (pos < data.size()) {
      const char c = data[pos];
      if (c == '\n' || c == '\r' || c == ' ' || c == '\t' || c == '>' || c == '-') break;
      const void* nl = std::memchr(data.data() + pos, '\n', data.size() - pos);
      if (nl == nullptr) break;
      last = pos;
      pos = static_cast<std::size_t>(static_cast<const char*>(nl) - data.data()) + 1;
    }
    if (pos == 0) return 0;
    append(data.substr(0, pos));
    line_start += pos;
    part_body_start = false;
    const std::string_view t = trim(strip_eol(data.substr(last, pos - last)));
    colon_intro = !t.empty() && t.back() == ':';
    return pos;
  }

  // A complete line including its '\n' (absent only at the end of input).
  void line(std::string_view text) {
    const std::string_view bare = strip_eol(text);
    const bool separator_position = at_start || prev_from || (prev_empty && !colon_intro);
    if (separator_position && !(multipart_open && part_body_start) && detail::is_from_line(bare)) {
      close_message();
      open_message(envelope_of(bare));
      prev_from = true;
      prev_empty = false;
    } else {
      body_line_start(text);
      prev_from = false;
      prev_empty = bare.empty();
      const std::string_view t = trim(bare);
      if (!t.empty()) colon_intro = t.back() == ':';
    }
    at_start = false;
    line_start += text.size();
  }
};

MboxSplitter::MboxSplitter(std::size_t max_message_bytes) : s_(std::make_shared<State>()) {
  s_->max_bytes = max_message_bytes;
}

void MboxSplitter::feed(std::string_view data) {
  State& s = *s_;
  while (!data.empty()) {
    if (s.run_allowed()) {
      if (const std::size_t n = s.plain_run(data); n > 0) {
        data.remove_prefix(n);
        continue;
      }
    }
    const char* nl = static_cast<const char*>(std::memchr(data.data(), '\n', data.size()));
    const std::size_t take = nl == nullptr ? data.size() : static_cast<std::size_t>(nl - data.data()) + 1;
    const std::string_view piece = data.substr(0, take);
    data.remove_prefix(take);
    if (s.long_line) {
      s.append(piece);
      s.line_start += piece.size();
      if (nl != nullptr) {
        s.long_line = false;
        s.prev_empty = s.prev_from = s.at_start = s.colon_intro = false;
      }
      continue;
    }
    if (nl != nullptr && s.held.empty()) {
      s.line(piece);
      continue;
    }
    if (s.held.size() + piece.size() <= kMaxHeldLine) {
      s.held.append(piece);
      if (nl != nullptr) {
        s.line(s.held);
        s.held.clear();
      }
      continue;
    }
    // Too long to be a From_ line: stream it as body text.
    const std::size_t held_before = s.held.size();
    const std::size_t room = kMaxHeldLine - held_before;
    s.held.append(piece.substr(0, room));
    s.body_line_start(s.held);
    s.append(piece.substr(room));
    s.line_start += held_before + piece.size();
    s.held.clear();
    s.long_line = nl == nullptr;
    s.prev_empty = s.prev_from = s.at_start = s.colon_intro = false;
  }
}

void MboxSplitter::finish() {
  State& s = *s_;
  if (!s.held.empty()) {
    s.line(s.held);
    s.held.clear();
  }
  s.long_line = false;
  s.close_message();
}

std::optional<Result<RawMessage>> MboxSplitter::next() {
  if (s_->ready.empty()) return std::nullopt;
  auto r = std::move(s_->ready.front());
  s_->ready.pop_front();
  return r;
}

}  // namespace backstop::mail
