// Received header fields (RFC 5321 §4.4 and what real MTAs write: Postfix,
// Sendmail, Exim, qmail, Exchange, Gmail): from/by/with/id/for clauses and
// the connecting IP, for relay attribution.
// Thread-safety: stateless.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace backstop::mail {

struct Received {
  std::string from_helo;  // the name after "from" (the client's HELO)
  std::string from_rdns;  // reverse-DNS name in the from comment, if any
  std::string from_ip;    // IPv4 or IPv6 (without "IPv6:" prefix), normalised text
  std::string by;         // receiving host
  std::string with;       // protocol (SMTP, ESMTPS, LMTP, ...)
  std::string id;         // queue id
  std::string for_addr;   // "for <...>" recipient, without brackets
  std::string date;       // text after the last ';'
  std::string by_comment{};    // the first comment after the by host: "Postfix"
  std::string with_comment{};  // the first comment after the protocol: "Exim 4.96"
};

// Parses one Received value (unfolded). nullopt when it has neither a from
// nor a by clause. Bounded: linear in the value size.
std::optional<Received> parse_received(std::string_view value);

// True when `ip` is a syntactically valid IPv4 or IPv6 literal.
bool is_ip_literal(std::string_view ip) noexcept;

}  // namespace backstop::mail
