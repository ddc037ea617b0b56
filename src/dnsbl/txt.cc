#include "dnsbl/txt.h"

namespace backstop::dnsbl {

std::string sanitize_txt(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(text.size() < max_bytes ? text.size() : max_bytes);
  bool pending_space = false;
  for (unsigned char c : text) {
    if (c > 0x20 && c < 0x7f) {
      if (pending_space && !out.empty()) out += ' ';
      pending_space = false;
      out += static_cast<char>(c);
      if (out.size() > max_bytes) break;
    } else {
      pending_space = true;
    }
  }
  if (out.size() <= max_bytes) return out;
  // Too long: cut, preferring a word boundary, and mark with "...".
  static constexpr std::string_view kEllipsis = "...";
  if (max_bytes <= kEllipsis.size()) return out.substr(0, max_bytes);
  std::size_t cut = max_bytes - kEllipsis.size();
  auto space = out.rfind(' ', cut);
  if (space != std::string::npos && space >= cut - cut / 4 && space > 0) cut = space;
  out.resize(cut);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  out += kEllipsis;
  return out;
}

std::string escape_rbldnsd_txt(std::string_view text, std::size_t max_bytes) {
  std::string clean = sanitize_txt(text, max_bytes);
  std::size_t start = 0;
  while (start < clean.size() && (clean[start] == ':' || clean[start] == '=' || clean[start] == ' ')) {
    ++start;
  }
  std::string out;
  out.reserve(clean.size() + 8);
  for (std::size_t i = start; i < clean.size(); ++i) {
    if (clean[i] == '$') out += '$';
    out += clean[i];
  }
  return out;
}

}  // namespace backstop::dnsbl
