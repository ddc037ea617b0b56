// The DNSBL page's form and query parser (net/form.h) on arbitrary bytes: no
// crash, the limits hold, and what parses re-encodes to a form that parses
// to the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/form.h"

namespace {

std::string encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out += '%';
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop::net;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto f = parse_form(in);
  if (size > kMaxFormBytes && f) std::abort();
  (void)percent_decode(in, false);
  if (!f) return 0;
  if (f->size() > kMaxFormFields) std::abort();
  std::string again;
  for (const auto& field : *f) {
    if (field.name.size() > kMaxFormValueBytes || field.value.size() > kMaxFormValueBytes) std::abort();
    if (field.name.empty() && field.value.empty()) continue;
    if (!again.empty()) again += '&';
    again += encode(field.name) + "=" + encode(field.value);
  }
  if (again.size() <= kMaxFormBytes) {
    auto g = parse_form(again);
    if (!g) std::abort();
    for (const auto& field : *f) {
      if (field.name.empty() && field.value.empty()) continue;
      if (!form_value(*g, field.name)) std::abort();
    }
  }
  return 0;
}
