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

}  // namespace

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
