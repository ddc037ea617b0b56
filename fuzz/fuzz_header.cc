// Header section parser, address lists and RFC 2047 decoding on arbitrary
// bytes. Invariants: limits hold, decoded text is valid UTF-8, body offset in
// range; parse_header_fields on the input cut into fields agrees with
// parse_header_section on the text those fields stand for.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// Fields as an MTA hands them to a milter, cut from the input: with a NUL
// byte in it, NUL-separated name, value, name, ...; else one field per line
// (name before the first colon, value after it), lines that start with a
// blank or are empty appended to the value with their line break.
std::vector<std::pair<std::string, std::string>> cut_fields(std::string_view in) {
  std::vector<std::pair<std::string, std::string>> out;
  if (in.find('\0') != std::string_view::npos) {
    for (std::size_t pos = 0, k = 0; pos <= in.size(); ++k) {
      std::size_t nul = in.find('\0', pos);
      if (nul == std::string_view::npos) nul = in.size();
      const std::string token(in.substr(pos, nul - pos));
      if (k % 2 == 0) out.emplace_back(token, std::string());
      else out.back().second = token;
      pos = nul + 1;
    }
    return out;
  }
  for (std::size_t pos = 0; pos < in.size();) {
    std::size_t nl = in.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? in.size() : nl + 1;
    const std::string_view line = in.substr(pos, end - pos);
    pos = end;
    std::string_view bare = line;
    while (!bare.empty() && (bare.back() == '\n' || bare.back() == '\r')) bare.remove_suffix(1);
    if (!out.empty() && (bare.empty() || bare.front() == ' ' || bare.front() == '\t')) {
      out.back().second.append("\n").append(bare);
      continue;
    }
    const std::size_t colon = bare.find(':');
    std::string_view value = colon == std::string_view::npos ? std::string_view() : bare.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    out.emplace_back(std::string(bare.substr(0, colon)), std::string(value));
  }
  return out;
}

// The fields read in place must give what their text ("name: value\r\n"
// each, then "\r\n") gives. Small limits so that every one is reached.
void check_fields(std::string_view in) {
  using namespace backstop::mail;
  const auto owned = cut_fields(in);
  std::vector<FieldView> fields;
  for (const auto& [n, v] : owned) fields.push_back({n, v});
  Limits limits;
  limits.max_header_bytes = 1 + in.size() % 512;
  limits.max_header_count = in.size() % 17;
  limits.max_field_bytes = in.size() % 97;
  const auto hp = parse_header_fields(fields, limits);
  if (!hp) return;
  std::string text;
  for (const FieldView& f : fields) text.append(f.name).append(": ").append(f.value).append("\r\n");
  text.append("\r\n");
  const HeaderParse ht = parse_header_section(text, limits);
  if (hp->body_offset != ht.body_offset || hp->conditions != ht.conditions) std::abort();
  if (hp->headers.size() != ht.headers.size()) std::abort();
  for (std::size_t i = 0; i < ht.headers.size(); ++i) {
    const HeaderField& a = hp->headers.fields()[i];
    const HeaderField& b = ht.headers.fields()[i];
    if (a.name != b.name || a.value != b.value) std::abort();
  }
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
  check_fields(in);
  return 0;
}
