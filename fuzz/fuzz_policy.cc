// Fuzzes the Postfix policy request parser: arbitrary bytes in two chunks (split
// chosen by the data), then finish() as at EOF. Checks the limits hold for every
// request returned and that format_response never emits more than one line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policyd/request.h"

using namespace backstop::policyd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t split = size ? data[0] % (size + 1) : 0;
  RequestParser p;
  p.feed(in.substr(0, split));
  bool fed = false;
  for (int guard = 0; guard < 100000; ++guard) {
    auto r = fed ? p.finish() : p.next();
    if (!r) break;
    if (!r->has_value()) {
      if (fed) break;
      p.feed(in.substr(split));
      fed = true;
      continue;
    }
    const Request& q = **r;
    if (q.empty() || q.attributes().size() > kMaxAttributes) std::abort();
    std::size_t bytes = 0;
    for (const auto& [n, v] : q.attributes()) {
      if (n.empty() || n.find('=') != std::string::npos || n.find('\n') != std::string::npos ||
          v.find('\n') != std::string::npos)
        std::abort();
      bytes += n.size() + v.size() + 2;
      auto resp = format_response(v);
      if (resp.find('\n') != resp.size() - 2) std::abort();  // exactly one line + blank
    }
    if (bytes > kMaxRequestBytes) std::abort();
    if (fed) p.feed("");  // keep draining after finish()
  }
  return 0;
}
