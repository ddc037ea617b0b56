// Header section parser, address lists and RFC 2047 decoding on arbitrary
// bytes. Invariants: limits hold, decoded text is valid UTF-8, body offset in range.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mail/address.h"
#include "mail/header.h"

namespace {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

bool is_address_field(std::string_view name) {
  using backstop::mail::iequals;
  return iequals(name, "from") || iequals(name, "to") || iequals(name, "cc") || iequals(name, "bcc") ||
         iequals(name, "reply-to") || iequals(name, "sender") || iequals(name, "return-path") ||
         iequals(name, "resent-from") || iequals(name, "resent-to");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop::mail;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_header_count = 200;  // small limits so the fuzzer reaches them
  limits.max_field_bytes = 4096;
  limits.max_addresses = 50;
  const HeaderParse p = parse_header_section(in, limits);
  if (p.body_offset > size) std::abort();
  if (p.headers.size() > limits.max_header_count) std::abort();
  for (const HeaderField& f : p.headers.fields()) {
    if (f.value.size() > limits.max_field_bytes || f.name.empty()) std::abort();
    if (!valid_utf8(decode_rfc2047(f.value, limits))) std::abort();
    if (is_address_field(f.name)) {
      auto list = parse_address_list(f.value, limits);
      if (list) {
        if (list->size() > limits.max_addresses) std::abort();
        for (const Address& a : *list) {
          if (!valid_utf8(a.display_name)) std::abort();
          (void)a.addr_spec();
        }
      }
      (void)parse_smtp_path(f.value);
    }
  }
  if (!valid_utf8(decode_rfc2047(in, limits))) std::abort();
  (void)parse_address_list(in, limits);
  return 0;
}
