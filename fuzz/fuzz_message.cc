// parse_message (headers + GMime MIME walk) on arbitrary bytes. Invariants:
// limits hold, text is valid UTF-8 and bounded, part links are consistent,
// and leaving attachment content out (elide.h) changes nothing: the result
// equals that of the parse that gives GMime every byte.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mail/elide.h"
#include "mail/message.h"
#include "mail/message_diff.h"

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop::mail;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_parts = 64;  // small limits so the fuzzer reaches them
  limits.max_mime_depth = 8;
  limits.max_body_text = 8192;
  limits.max_embedded = 4;
  auto r = parse_message(in, limits);
  auto whole = detail::parse_message_whole(in, limits);
  if (r.has_value() != whole.has_value()) std::abort();
  if (!r) return 0;
  if (!detail::message_difference(*r, *whole).empty()) std::abort();
  const Message& m = *r;
  if (m.headers.empty() || m.parts.empty() || m.raw_size != size) std::abort();
  if (m.parts.size() > limits.max_parts || m.embedded.size() > limits.max_embedded) std::abort();
  if (m.text.size() > limits.max_body_text || m.embedded_text.size() > limits.max_body_text) std::abort();
  if (!valid_utf8(m.text) || !valid_utf8(m.embedded_text)) std::abort();
  for (std::size_t i = 0; i < m.parts.size(); ++i) {
    const Part& p = m.parts[i];
    if (static_cast<std::size_t>(p.depth) > limits.max_mime_depth) std::abort();
    if (i == 0 ? p.parent != -1 : (p.parent < 0 || static_cast<std::size_t>(p.parent) >= i)) std::abort();
    if (i > 0 && m.parts[static_cast<std::size_t>(p.parent)].depth + 1 != p.depth) std::abort();
  }
  return 0;
}
