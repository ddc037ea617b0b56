// Received header parser on arbitrary bytes. Invariants: an IP it reports
// is a valid literal; fields are bounded by the input size.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mail/received.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop::mail;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto r = parse_received(in);
  if (!r) return 0;
  if (!r->from_ip.empty() && !is_ip_literal(r->from_ip)) std::abort();
  for (const auto* s : {&r->from_helo, &r->from_rdns, &r->by, &r->with, &r->id, &r->for_addr, &r->date}) {
    if (s->size() > size) std::abort();
  }
  return 0;
}
