#include "mail/received.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <vector>

#include "mail/header.h"

namespace backstop::mail {
namespace {

// Longest text kept from one clause word or comment; real values are < 300
// bytes (an IPv6 literal is 45), so this only bounds hostile input.
constexpr std::size_t kMaxClauseText = 1024;
// Comment nesting tracked in a Received value; deeper parentheses are text.
constexpr std::size_t kMaxCommentDepth = 32;

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view strip_dot(std::string_view s) {
  while (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return s;
}

// Normalised text of an IPv4/IPv6 literal (brackets, "IPv6:" prefix, IPv4
// ":port" and IPv6 "%zone" tolerated), or "" when `s` is not one.
std::string normalise_ip(std::string_view s) {
  while (!s.empty() && (s.front() == '[' || s.front() == '(')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ']' || s.back() == ')' || s.back() == ',' || s.back() == ';')) {
    s.remove_suffix(1);
  }
  if (const std::size_t close = s.find(']'); close != std::string_view::npos) s = s.substr(0, close);
  if (s.size() > 5 && iequals(s.substr(0, 5), "ipv6:")) s.remove_prefix(5);
  if (s.empty() || s.size() > 63) return {};
  std::array<char, 64> buf{};
  s.copy(buf.data(), s.size());
  unsigned char bin[16];
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inet_pton(AF_INET, buf.data(), bin) == 1) {
    return inet_ntop(AF_INET, bin, text.data(), text.size()) != nullptr ? std::string(text.data()) : std::string();
  }
  // IPv4 with a port ("1.2.3.4:25").
  if (const std::size_t colon = s.find(':'); colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
    std::array<char, 64> v4{};
    s.substr(0, colon).copy(v4.data(), colon);
    if (inet_pton(AF_INET, v4.data(), bin) == 1) return std::string(s.substr(0, colon));
    return {};
  }
  if (const char* pct = static_cast<const char*>(std::memchr(buf.data(), '%', s.size())); pct != nullptr) {
    buf[static_cast<std::size_t>(pct - buf.data())] = '\0';
  }
  if (inet_pton(AF_INET6, buf.data(), bin) != 1) return {};
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bin, kMapped, sizeof kMapped) == 0) {
    return inet_ntop(AF_INET, bin + 12, text.data(), text.size()) != nullptr ? std::string(text.data()) : std::string();
  }
  return inet_ntop(AF_INET6, bin, text.data(), text.size()) != nullptr ? std::string(text.data()) : std::string();
}

bool looks_like_host(std::string_view s) {
  if (s.empty() || iequals(s, "unknown") || iequals(s, "helo") || iequals(s, "ehlo") || iequals(s, "may")) {
    return false;
  }
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

struct Clause {
  std::string word;                   // the value after the keyword
  std::vector<std::string> comments;  // comments following it, in order
};

enum Key { kFrom, kBy, kWith, kId, kFor, kVia, kKeys };

int keyword(std::string_view w) {
  static constexpr std::array<std::string_view, kKeys> kNames = {"from", "by", "with", "id", "for", "via"};
  for (std::size_t k = 0; k < kNames.size(); ++k) {
    if (iequals(w, kNames[k])) return static_cast<int>(k);
  }
  return -1;
}

// Offset of the last ';' outside comments, or npos.
std::size_t date_separator(std::string_view v) {
  std::size_t depth = 0, last = std::string_view::npos;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '(') ++depth;
    else if (v[i] == ')' && depth > 0) --depth;
    else if (v[i] == ';' && depth == 0) last = i;
  }
  return last;
}

// Reads the comment at v[i] == '(' up to its matching ')' (or the end).
std::string read_comment(std::string_view v, std::size_t& i) {
  std::string text;
  std::size_t depth = 0;
  while (i < v.size()) {
    const char c = v[i++];
    if (c == '(') {
      if (++depth == 1) continue;
    } else if (c == ')') {
      if (--depth == 0) break;
    }
    if (text.size() < kMaxClauseText && depth <= kMaxCommentDepth) text.push_back(c);
  }
  return text;
}

// Splits a comment into words at blanks and parentheses.
std::vector<std::string_view> comment_words(std::string_view c) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < c.size()) {
    while (i < c.size() && (is_ws(c[i]) || c[i] == '(' || c[i] == ')')) ++i;
    const std::size_t start = i;
    while (i < c.size() && !(is_ws(c[i]) || c[i] == '(' || c[i] == ')')) ++i;
    if (i > start) out.push_back(c.substr(start, i - start));
  }
  return out;
}

void read_from_comments(const Clause& from, Received& r) {
  for (const std::string& c : from.comments) {
    const auto words = comment_words(c);
    for (std::size_t k = 0; k < words.size(); ++k) {
      const std::string_view w = words[k];
      if (w.size() > 5 && iequals(w.substr(0, 5), "helo=")) {
        if (r.from_helo.empty() || !normalise_ip(r.from_helo).empty()) r.from_helo = std::string(w.substr(5));
        continue;
      }
      if ((iequals(w, "helo") || iequals(w, "ehlo")) && k + 1 < words.size()) {
        const std::string_view h = words[++k];
        if (r.from_helo.empty() || iequals(r.from_helo, "unknown")) r.from_helo = std::string(h);
        continue;
      }
      if (r.from_ip.empty()) {
        if (std::string ip = normalise_ip(w); !ip.empty()) {
          r.from_ip = std::move(ip);
          continue;
        }
      }
      if (k == 0 && r.from_rdns.empty() && looks_like_host(strip_dot(w)) && w.find('.') != std::string_view::npos) {
        r.from_rdns = std::string(strip_dot(w));
      }
    }
  }
}

}  // namespace

bool is_ip_literal(std::string_view ip) noexcept {
  if (ip.empty() || ip.size() > 63) return false;
  std::array<char, 64> buf{};
  ip.copy(buf.data(), ip.size());
  unsigned char bin[16];
  return inet_pton(AF_INET, buf.data(), bin) == 1 || inet_pton(AF_INET6, buf.data(), bin) == 1;
}

std::optional<Received> parse_received(std::string_view value) {
  Received r;
  const std::size_t semi = date_separator(value);
  if (semi != std::string_view::npos) r.date = std::string(trim(value.substr(semi + 1)).substr(0, kMaxClauseText));
  const std::string_view v = value.substr(0, semi);

  std::array<Clause, kKeys> clauses;
  std::array<bool, kKeys> seen{};
  int current = -1;
  bool expect_word = false;
  std::size_t i = 0;
  while (i < v.size()) {
    if (is_ws(v[i])) {
      ++i;
      continue;
    }
    if (v[i] == '(') {
      std::string c = read_comment(v, i);
      if (current >= 0 && !expect_word) clauses[static_cast<std::size_t>(current)].comments.push_back(std::move(c));
      continue;
    }
    const std::size_t start = i;
    while (i < v.size() && !is_ws(v[i]) && v[i] != '(') ++i;
    const std::string_view w = v.substr(start, i - start);
    if (expect_word) {
      clauses[static_cast<std::size_t>(current)].word = std::string(w.substr(0, kMaxClauseText));
      expect_word = false;
      continue;
    }
    const int k = keyword(w);
    // A keyword opens its clause once; other words (Exim's "with esmtpsa",
    // extra words of broken MTAs) are ignored.
    if (k >= 0 && !seen[static_cast<std::size_t>(k)]) {
      seen[static_cast<std::size_t>(k)] = true;
      current = k;
      expect_word = true;
    }
  }
  if (!seen[kFrom] && !seen[kBy]) return std::nullopt;

  const Clause& from = clauses[kFrom];
  r.from_helo = from.word;
  if (std::string ip = normalise_ip(from.word); !ip.empty() && (from.word.front() == '[' || is_ip_literal(from.word))) {
    r.from_ip = std::move(ip);
  }
  read_from_comments(from, r);
  r.by = std::string(strip_dot(clauses[kBy].word));
  if (!clauses[kBy].comments.empty()) r.by_comment = std::string(trim(clauses[kBy].comments.front()));
  r.with = clauses[kWith].word;
  if (!clauses[kWith].comments.empty()) r.with_comment = std::string(trim(clauses[kWith].comments.front()));
  r.id = clauses[kId].word;
  std::string_view f = clauses[kFor].word;
  while (!f.empty() && (f.front() == '<' || f.front() == '"')) f.remove_prefix(1);
  while (!f.empty() && (f.back() == '>' || f.back() == '"' || f.back() == ',')) f.remove_suffix(1);
  r.for_addr = std::string(f);
  return r;
}

}  // namespace backstop::mail
