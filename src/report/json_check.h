// Test helper: a strict JSON parser (RFC 8259) used to check that writer
// output is valid JSON and to read values back. Test-only; not linked into
// the library.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace backstop::report::testing {

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool b = false;
  double number = 0;
  std::string str;
  std::vector<Json> array;
  std::map<std::string, Json> object;
  const Json& operator[](const std::string& k) const { return object.at(k); }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}
  // The value, or nullopt when `s` is not exactly one valid JSON value.
  std::optional<Json> parse() {
    Json v;
    ws();
    if (!value(v, 0)) return std::nullopt;
    ws();
    if (i_ != s_.size()) return std::nullopt;
    return v;
  }

 private:
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool lit(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool value(Json& v, int depth) {
    if (depth > 64 || i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == 'n') { v.type = Json::Type::kNull; return lit("null"); }
    if (c == 't') { v.type = Json::Type::kBool; v.b = true; return lit("true"); }
    if (c == 'f') { v.type = Json::Type::kBool; return lit("false"); }
    if (c == '"') { v.type = Json::Type::kString; return string(v.str); }
    if (c == '[') {
      v.type = Json::Type::kArray;
      ++i_;
      ws();
      if (i_ < s_.size() && s_[i_] == ']') { ++i_; return true; }
      while (true) {
        Json e;
        ws();
        if (!value(e, depth + 1)) return false;
        v.array.push_back(std::move(e));
        ws();
        if (i_ >= s_.size()) return false;
        if (s_[i_] == ',') { ++i_; continue; }
        if (s_[i_] == ']') { ++i_; return true; }
        return false;
      }
    }
    if (c == '{') {
      v.type = Json::Type::kObject;
      ++i_;
      ws();
      if (i_ < s_.size() && s_[i_] == '}') { ++i_; return true; }
      while (true) {
        ws();
        std::string k;
        if (i_ >= s_.size() || s_[i_] != '"' || !string(k)) return false;
        ws();
        if (i_ >= s_.size() || s_[i_++] != ':') return false;
        ws();
        Json e;
        if (!value(e, depth + 1)) return false;
        if (!v.object.emplace(k, std::move(e)).second) return false;  // duplicate key
        ws();
        if (i_ >= s_.size()) return false;
        if (s_[i_] == ',') { ++i_; continue; }
        if (s_[i_] == '}') { ++i_; return true; }
        return false;
      }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.type = Json::Type::kNumber;
      std::size_t start = i_;
      if (s_[i_] == '-') ++i_;
      if (i_ >= s_.size()) return false;
      if (s_[i_] == '0') {
        ++i_;
      } else if (s_[i_] >= '1' && s_[i_] <= '9') {
        while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      } else {
        return false;
      }
      if (i_ < s_.size() && s_[i_] == '.') {
        ++i_;
        std::size_t d = i_;
        while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
        if (i_ == d) return false;
      }
      if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
        ++i_;
        if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
        std::size_t d = i_;
        while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
        if (i_ == d) return false;
      }
      v.number = std::stod(std::string(s_.substr(start, i_ - start)));
      return true;
    }
    return false;
  }
  static void put_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool hex4(std::uint32_t& cp) {
    if (i_ + 4 > s_.size()) return false;
    cp = 0;
    for (int k = 0; k < 4; ++k) {
      char h = s_[i_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= static_cast<std::uint32_t>(h - 'A' + 10);
      else return false;
    }
    return true;
  }
  // Strict: raw control characters and invalid UTF-8 are errors.
  bool string(std::string& out) {
    ++i_;
    while (i_ < s_.size()) {
      unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') { ++i_; return true; }
      if (c < 0x20) return false;
      if (c == '\\') {
        ++i_;
        if (i_ >= s_.size()) return false;
        char e = s_[i_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            std::uint32_t cp;
            if (!hex4(cp)) return false;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              std::uint32_t lo;
              if (!lit("\\u") || !hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              return false;
            }
            put_utf8(out, cp);
            break;
          }
          default: return false;
        }
        continue;
      }
      // Validate one UTF-8 sequence.
      std::size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                    : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
      if (n == 0 || i_ + n > s_.size()) return false;
      for (std::size_t k = 1; k < n; ++k) {
        if ((static_cast<unsigned char>(s_[i_ + k]) & 0xC0) != 0x80) return false;
      }
      unsigned char c1 = n > 1 ? static_cast<unsigned char>(s_[i_ + 1]) : 0;
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
          (c == 0xF4 && c1 > 0x8F)) {
        return false;
      }
      out.append(s_.substr(i_, n));
      i_ += n;
    }
    return false;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

inline std::optional<Json> parse_json(std::string_view s) { return JsonParser(s).parse(); }

}  // namespace backstop::report::testing
