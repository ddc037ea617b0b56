// Operator-written endpoint and network syntax on arbitrary text (listen
// specs, HOST:PORT, CIDRs) and the log escaping that peer bytes pass through:
// no crash; what parses prints to a form that parses to the same value; a
// log-safe line holds no control byte.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/ip.h"
#include "common/text.h"
#include "net/listen.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto l = net::parse_listen(text)) {
    auto back = net::parse_listen(l->to_string());
    if (!back || back->kind != l->kind || back->host != l->host || back->port != l->port || back->path != l->path)
      std::abort();
  }
  (void)net::split_host_port(text);
  if (auto n = ip::parse_network(text)) {
    auto back = ip::parse_network(ip::to_string(*n));
    if (!back || !(*back == *n)) std::abort();
  }
  for (unsigned char c : text::log_safe(text))
    if (c < 0x20 || c == 0x7f) std::abort();
  return 0;
}
