// RFC 5322 address lists: display names, comments, quoted local parts,
// group syntax, obsolete routes; tolerant of real-world breakage.
// Thread-safety: stateless.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "mail/limits.h"

namespace backstop::mail {

struct Address {
  std::string display_name;  // decoded to UTF-8 (RFC 2047), unquoted; may be empty
  std::string local;         // local part, unquoted ("a b"@x -> a b)
  std::string domain;        // as written; may be empty for a bare local part
  std::string group;         // name of the enclosing group, if any
  // local@domain (local re-quoted when needed), or local alone.
  std::string addr_spec() const;
};

// Parses an address-list field value (From, To, Cc, Reply-To, ...). Returns
// kMalformed only when nothing address-like is found; partial damage yields
// the addresses that could be read. At most Limits::max_addresses.
Result<std::vector<Address>> parse_address_list(std::string_view value,
                                                 const Limits& limits = kDefaultLimits);

// Parses one SMTP path as given in MAIL FROM / RCPT TO ("<a@b>", "a@b", "<>").
// An empty optional means the null reverse-path "<>".
Result<std::optional<Address>> parse_smtp_path(std::string_view path);

}  // namespace backstop::mail
