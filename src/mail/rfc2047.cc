// RFC 2047 encoded-word decoding (decode_rfc2047 of header.h).
#include <cstring>
#include <optional>

#include "mail/charset.h"
#include "mail/header.h"

namespace backstop::mail {
namespace {

// RFC 2047 §2 caps an encoded word at 75 characters; broken mailers write
// whole subjects as one word (seen near 1,000). The bound keeps the scan for
// "?=" from every "=?" start proportional to the input.
constexpr std::size_t kMaxEncodedWord = 1024;

struct EncodedWord {
  std::string_view charset;  // without an RFC 2231 "*language" suffix
  std::string bytes;         // decoded octets in `charset`
  std::size_t length = 0;    // characters consumed from the input
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<std::string> decode_b(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;  // padding ends the data
    const int v = b64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::string decode_q(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '_') {
      out.push_back(' ');
    } else if (c == '=' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);  // tolerate a stray '=' or raw byte
    }
  }
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Parses "=?charset?X?text?=" at the start of `s`.
std::optional<EncodedWord> parse_encoded_word(std::string_view s) {
  if (s.size() < 8 || s[0] != '=' || s[1] != '?') return std::nullopt;
  const std::string_view window = s.substr(0, kMaxEncodedWord);
  const std::size_t q1 = window.find('?', 2);
  if (q1 == std::string_view::npos || q1 == 2 || q1 + 3 >= window.size() || window[q1 + 2] != '?') {
    return std::nullopt;
  }
  std::string_view charset = window.substr(2, q1 - 2);
  for (char c : charset) {
    if (is_space(c)) return std::nullopt;
  }
  if (const std::size_t star = charset.find('*'); star != std::string_view::npos) {
    charset = charset.substr(0, star);
  }
  const char enc = window[q1 + 1];
  const std::size_t text_start = q1 + 3;
  std::size_t end = text_start;
  while (end + 1 < window.size() && !(window[end] == '?' && window[end + 1] == '=')) {
    if (is_space(window[end])) return std::nullopt;
    ++end;
  }
  if (end + 1 >= window.size()) return std::nullopt;
  const std::string_view text = window.substr(text_start, end - text_start);
  EncodedWord w;
  w.charset = charset;
  w.length = end + 2;
  if (enc == 'B' || enc == 'b') {
    auto d = decode_b(text);
    if (!d) return std::nullopt;
    w.bytes = std::move(*d);
  } else if (enc == 'Q' || enc == 'q') {
    w.bytes = decode_q(text);
  } else {
    return std::nullopt;
  }
  return w;
}

}  // namespace

std::string decode_rfc2047(std::string_view value, const Limits& limits) {
  std::string out;
  out.reserve(value.size());
  std::string pending;          // decoded octets of adjacent words in one charset
  std::string_view pending_cs;  // their charset
  auto flush = [&] {
    if (!pending.empty()) detail::append_as_utf8(out, pending, pending_cs);
    pending.clear();
  };
  std::size_t words = 0;
  std::size_t i = 0;
  std::size_t plain_start = 0;  // start of literal text not yet copied
  bool last_was_word = false;   // only blanks since the previous encoded word
  while (i < value.size()) {
    const char* p = static_cast<const char*>(std::memchr(value.data() + i, '=', value.size() - i));
    if (p == nullptr || words >= limits.max_encoded_words) break;
    const std::size_t at = static_cast<std::size_t>(p - value.data());
    auto w = parse_encoded_word(value.substr(at));
    if (!w) {
      i = at + 1;
      continue;
    }
    ++words;
    const std::string_view between = value.substr(plain_start, at - plain_start);
    bool only_blanks = true;
    for (char c : between) only_blanks = only_blanks && is_space(c);
    if (!(last_was_word && only_blanks)) {
      flush();
      detail::append_utf8_sanitized(out, between);
    }
    if (!pending.empty() && !iequals(pending_cs, w->charset)) flush();
    pending_cs = w->charset;
    pending.append(w->bytes);
    i = at + w->length;
    plain_start = i;
    last_was_word = true;
  }
  flush();
  detail::append_utf8_sanitized(out, value.substr(plain_start));
  return out;
}

}  // namespace backstop::mail
