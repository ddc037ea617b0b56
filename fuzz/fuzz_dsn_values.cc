// xtext (ENVID) and RFC 5322 date-time parsing on arbitrary bytes.
// Invariants: a decoded ENVID is printable ASCII of at most kMaxEnvidChars;
// a parsed date is within the years the parser accepts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mail/dsn_values.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop::mail;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  for (const auto& e : {decode_envid(in), envid_parameter(in)}) {
    if (!e) continue;
    if (e->empty() || e->size() > kMaxEnvidChars || e->size() > size) std::abort();
    for (char c : *e) {
      if (c < ' ' || c > '~') std::abort();
    }
  }
  if (auto t = parse_date_time(in)) {
    // 1970-01-01 minus a day of zone offset .. 9999-12-31 plus one.
    if (*t < -86400 || *t > 253402387200LL) std::abort();
  }
  return 0;
}
