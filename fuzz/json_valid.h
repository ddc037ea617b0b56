// A strict JSON (RFC 8259) checker for the fuzz targets: valid_json(text) is
// true when `text` is exactly one JSON value, with only whitespace around it,
// strings are valid UTF-8 with every control character escaped, and nesting
// is at most kMaxDepth deep. Header-only, no allocation, no recursion limit
// beyond kMaxDepth.
#pragma once

#include <cstddef>
#include <string_view>

namespace backstop::fuzz {

class JsonChecker {
 public:
  static constexpr int kMaxDepth = 64;

  explicit JsonChecker(std::string_view s) : s_(s) {}

  bool document() {
    ws();
    if (!value(0)) return false;
    ws();
    return i_ == s_.size();
  }

 private:
  bool eof() const { return i_ >= s_.size(); }
  char peek() const { return eof() ? '\0' : s_[i_]; }
  void ws() {
    while (!eof() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool lit(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  static bool digit(char c) { return c >= '0' && c <= '9'; }
  static bool hex(char c) { return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

  bool value(int depth) {
    if (depth > kMaxDepth) return false;
    switch (peek()) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': return string();
      case 't': return lit("true");
      case 'f': return lit("false");
      case 'n': return lit("null");
      default: return number();
    }
  }
  bool object(int depth) {
    ++i_;
    ws();
    if (peek() == '}') return ++i_, true;
    for (;;) {
      ws();
      if (peek() != '"' || !string()) return false;
      ws();
      if (peek() != ':') return false;
      ++i_;
      ws();
      if (!value(depth + 1)) return false;
      ws();
      if (peek() == '}') return ++i_, true;
      if (peek() != ',') return false;
      ++i_;
    }
  }
  bool array(int depth) {
    ++i_;
    ws();
    if (peek() == ']') return ++i_, true;
    for (;;) {
      ws();
      if (!value(depth + 1)) return false;
      ws();
      if (peek() == ']') return ++i_, true;
      if (peek() != ',') return false;
      ++i_;
    }
  }
  bool number() {
    if (peek() == '-') ++i_;
    if (peek() == '0') {
      ++i_;
    } else if (digit(peek())) {
      while (digit(peek())) ++i_;
    } else {
      return false;
    }
    if (peek() == '.') {
      ++i_;
      if (!digit(peek())) return false;
      while (digit(peek())) ++i_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (!digit(peek())) return false;
      while (digit(peek())) ++i_;
    }
    return true;
  }
  bool string() {
    ++i_;  // the opening quote
    while (!eof()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') return ++i_, true;
      if (c < 0x20) return false;
      if (c == '\\') {
        ++i_;
        const char e = peek();
        if (e == 'u') {
          for (int k = 1; k <= 4; ++k) {
            if (!hex(i_ + static_cast<std::size_t>(k) < s_.size() ? s_[i_ + static_cast<std::size_t>(k)] : '\0')) {
              return false;
            }
          }
          i_ += 5;
          continue;
        }
        if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos || e == '\0') return false;
        ++i_;
        continue;
      }
      if (c < 0x80) {
        ++i_;
        continue;
      }
      if (!utf8()) return false;
    }
    return false;
  }
  // One multi-byte UTF-8 sequence at i_ (RFC 3629: no overlongs, no
  // surrogates, nothing above U+10FFFF).
  bool utf8() {
    const auto b = [&](std::size_t k) {
      return i_ + k < s_.size() ? static_cast<unsigned char>(s_[i_ + k]) : 0u;
    };
    const unsigned c = b(0);
    const auto cont = [](unsigned x) { return (x & 0xC0) == 0x80; };
    std::size_t n = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F)) return false;
      n = 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F)) return false;
      n = 4;
    } else {
      return false;
    }
    for (std::size_t k = 1; k < n; ++k) {
      if (!cont(b(k))) return false;
    }
    i_ += n;
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

inline bool valid_json(std::string_view text) { return JsonChecker(text).document(); }

}  // namespace backstop::fuzz
