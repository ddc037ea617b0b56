// HTTP request heads (request line and header fields) on arbitrary bytes: no
// crash, and what parses is within the input and has the documented shape.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "net/http_head.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view head(reinterpret_cast<const char*>(data), size);
  // Header fields: a found value lies inside the head and has no line break.
  for (std::string_view name : {"Host", "Content-Length", "X-Forwarded-For"}) {
    auto v = backstop::net::header_value(head, name);
    if (v && *v && (!(*v)->empty() && ((*v)->data() < head.data() || (*v)->data() + (*v)->size() > head.data() + head.size())))
      std::abort();
    if (v && *v && ((*v)->find('\n') != std::string_view::npos || (*v)->find('\r') != std::string_view::npos)) std::abort();
  }
  (void)backstop::net::content_length(head);
  auto r = backstop::net::parse_request_line(head);
  if (!r) return 0;
  auto inside = [&](std::string_view v) {
    return v.empty() || (v.data() >= head.data() && v.data() + v.size() <= head.data() + head.size());
  };
  if (!inside(r->method) || !inside(r->target) || !inside(r->version)) std::abort();
  if (r->method.empty() || r->target.empty() || r->target.front() != '/') std::abort();
  for (unsigned char c : r->target)
    if (c <= 0x20 || c >= 0x7f) std::abort();
  return 0;
}
