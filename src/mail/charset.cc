#include "mail/charset.h"

#include <gmime/gmime.h>
#include <iconv.h>

#include <array>
#include <cerrno>

#include "common/text.h"
#include "mail/gmime_init.h"

namespace backstop::mail::detail {
namespace {

// Charset names longer than this are not real charsets (longest IANA name is 45).
constexpr std::size_t kMaxCharsetName = 64;
// Converters kept open per thread; messages use few charsets, and each open
// converter costs a few KiB.
constexpr std::size_t kConverterCacheSize = 8;
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

bool valid_charset_name(std::string_view cs) {
  if (cs.empty() || cs.size() > kMaxCharsetName) return false;
  for (char c : cs) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':' || c == '+';
    if (!ok) return false;
  }
  return true;
}

bool is_utf8_name(std::string_view cs) {
  return cs == "utf-8" || cs == "utf8" || cs == "us-ascii" || cs == "ascii" || cs == "unknown-8bit" ||
         cs == "x-unknown" || cs == "unknown" || cs == "default" || cs == "7bit" || cs == "8bit";
}

bool is_latin1_name(std::string_view cs) {
  return cs == "iso-8859-1" || cs == "iso8859-1" || cs == "latin1" || cs == "l1" || cs == "iso_8859-1";
}

void append_latin1(std::string& out, std::string_view bytes) {
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
}

// A per-thread cache of open iconv converters to UTF-8, keyed by charset.
class ConverterCache {
 public:
  ~ConverterCache() {
    for (auto& e : entries_) {
      if (e.cd != invalid()) iconv_close(e.cd);
    }
  }
  // A converter from `cs` (lower-case, validated) to UTF-8, reset to its
  // initial state; invalid() when the charset is unknown.
  iconv_t get(const std::string& cs) {
    for (auto& e : entries_) {
      if (e.used && e.name == cs) {
        if (e.cd != invalid()) iconv(e.cd, nullptr, nullptr, nullptr, nullptr);
        return e.cd;
      }
    }
    ensure_gmime();
    const char* mapped = g_mime_charset_iconv_name(cs.c_str());
    iconv_t cd = iconv_open("UTF-8", mapped != nullptr ? mapped : cs.c_str());
    Entry& slot = entries_[next_];
    next_ = (next_ + 1) % entries_.size();
    if (slot.used && slot.cd != invalid()) iconv_close(slot.cd);
    slot = Entry{true, cs, cd};
    return cd;
  }
  static iconv_t invalid() { return reinterpret_cast<iconv_t>(-1); }

 private:
  struct Entry {
    bool used = false;
    std::string name;
    iconv_t cd = invalid();
  };
  std::array<Entry, kConverterCacheSize> entries_{};
  std::size_t next_ = 0;
};

void append_iconv(std::string& out, std::string_view bytes, iconv_t cd) {
  char* in = const_cast<char*>(bytes.data());  // iconv's API is not const-correct; it only reads.
  std::size_t in_left = bytes.size();
  std::array<char, 4096> buf;
  while (in_left > 0) {
    char* o = buf.data();
    std::size_t o_left = buf.size();
    const std::size_t r = iconv(cd, &in, &in_left, &o, &o_left);
    out.append(buf.data(), buf.size() - o_left);
    if (r != static_cast<std::size_t>(-1)) continue;
    if (errno == E2BIG) continue;
    // EILSEQ (invalid byte) or EINVAL (truncated sequence at the end).
    out.append(kReplacement);
    ++in;
    --in_left;
    iconv(cd, nullptr, nullptr, nullptr, nullptr);
  }
  char* o = buf.data();
  std::size_t o_left = buf.size();
  iconv(cd, nullptr, nullptr, &o, &o_left);
  out.append(buf.data(), buf.size() - o_left);
}

}  // namespace

void append_as_utf8(std::string& out, std::string_view bytes, std::string_view charset) {
  if (bytes.empty()) return;
  const std::string cs = text::ascii_lower(charset);
  if (cs.empty() || is_utf8_name(cs) || !valid_charset_name(cs)) {
    append_utf8_sanitized(out, bytes);
    return;
  }
  if (is_latin1_name(cs)) {
    append_latin1(out, bytes);
    return;
  }
  thread_local ConverterCache cache;
  iconv_t cd = cache.get(cs);
  if (cd == ConverterCache::invalid()) {
    append_utf8_sanitized(out, bytes);
    return;
  }
  std::string converted;
  converted.reserve(bytes.size() + bytes.size() / 2);
  append_iconv(converted, bytes, cd);
  // iconv output is UTF-8 by construction; sanitize anyway (NULs and all
  // stay, but a buggy converter cannot inject invalid sequences).
  append_utf8_sanitized(out, converted);
}

bool append_utf8_prefix(std::string& out, std::string_view in, std::size_t max_bytes) {
  if (in.size() <= max_bytes) {
    out.append(in);
    return false;
  }
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(in[cut]) & 0xC0) == 0x80) --cut;
  out.append(in.substr(0, cut));
  return true;
}

}  // namespace backstop::mail::detail
