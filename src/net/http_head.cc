#include "net/http_head.h"

namespace backstop::net {
namespace {

// A method longer than this is none that we serve or that exists.
constexpr std::size_t kMaxMethod = 16;

bool printable(std::string_view s) {
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

constexpr char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Longest Content-Length we read: 19 digits always fit in 64 bits.
constexpr std::size_t kMaxLengthDigits = 19;

}  // namespace

Result<std::optional<std::string_view>> header_value(std::string_view head, std::string_view name) {
  std::optional<std::string_view> found;
  std::size_t pos = head.find('\n');
  if (pos == std::string_view::npos) return found;  // a request line only
  ++pos;
  while (pos < head.size()) {
    std::size_t end = head.find('\n', pos);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(pos, end - pos);
    pos = end + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return fail(Code::kMalformed, "folded HTTP header line");
    for (unsigned char c : line)
      if ((c < 0x20 && c != '\t') || c == 0x7f) return fail(Code::kMalformed, "control byte in an HTTP header");
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(Code::kMalformed, "HTTP header line without a name");
    if (!iequal(line.substr(0, colon), name)) continue;
    if (found) return fail(Code::kMalformed, "repeated HTTP header field");
    found = trim_blanks(line.substr(colon + 1));
  }
  return found;
}

Result<std::optional<std::uint64_t>> content_length(std::string_view head) {
  auto v = header_value(head, "Content-Length");
  if (!v) return unexpected<Error>(std::move(v).error());
  if (!*v) return std::optional<std::uint64_t>();
  const std::string_view d = **v;
  if (d.empty() || d.size() > kMaxLengthDigits) return fail(Code::kMalformed, "bad Content-Length");
  std::uint64_t n = 0;
  for (char c : d) {
    if (c < '0' || c > '9') return fail(Code::kMalformed, "bad Content-Length");
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return std::optional<std::uint64_t>(n);
}

Target split_target(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

Result<RequestLine> parse_request_line(std::string_view head) {
  std::string_view line = head.substr(0, head.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);
  RequestLine r;
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return fail(Code::kMalformed, "HTTP request line without a target");
  r.method = line.substr(0, sp1);
  if (r.method.empty() || r.method.size() > kMaxMethod) return fail(Code::kMalformed, "bad HTTP method");
  for (char c : r.method)
    if (c < 'A' || c > 'Z') return fail(Code::kMalformed, "bad HTTP method");
  std::string_view rest = line.substr(sp1 + 1);
  const auto sp2 = rest.find(' ');
  r.target = rest.substr(0, sp2);
  if (sp2 != std::string_view::npos) {
    r.version = rest.substr(sp2 + 1);
    if (!(r.version.size() == 8 && r.version.starts_with("HTTP/") && r.version[5] >= '0' && r.version[5] <= '9' &&
          r.version[6] == '.' && r.version[7] >= '0' && r.version[7] <= '9')) {
      return fail(Code::kMalformed, "bad HTTP version");
    }
  }
  if (r.target.empty() || r.target.front() != '/' || !printable(r.target))
    return fail(Code::kMalformed, "bad HTTP request target");
  return r;
}

}  // namespace backstop::net
