// application/x-www-form-urlencoded data: POST bodies of HTML forms and URL
// query strings (the DNSBL lookup page's delisting form and ?format=json).
// Pure; no I/O. Untrusted bytes: every bound is a named constant below, and
// the decoded names and values may hold any byte (NUL, invalid UTF-8): the
// caller validates what it uses.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace backstop::net {

// The largest body or query parsed: the delisting form holds an IP, a short
// reason and a token, well under 1 KiB; anything bigger is not our form.
inline constexpr std::size_t kMaxFormBytes = 4096;
// Fields per form: ours has four.
inline constexpr std::size_t kMaxFormFields = 16;
// Decoded bytes of one name or value.
inline constexpr std::size_t kMaxFormValueBytes = 1024;

struct FormField {
  std::string name;
  std::string value;
  friend bool operator==(const FormField&, const FormField&) = default;
};
using Form = std::vector<FormField>;

// Percent-decodes `s` ("%3A" -> ':'); with `plus_is_space`, '+' becomes a
// space (forms, queries; not paths). kMalformed for '%' not followed by two
// hex digits.
Result<std::string> percent_decode(std::string_view s, bool plus_is_space);

// Splits `data` at '&' into name=value pairs (a pair without '=' has an empty
// value; empty pairs are skipped) and decodes both. kTooLarge when `data`,
// the field count or a decoded name or value exceeds the limits above;
// kMalformed for a bad percent escape.
Result<Form> parse_form(std::string_view data);

// The value of the first field named `name`, or nullopt.
std::optional<std::string_view> form_value(const Form& form, std::string_view name);

}  // namespace backstop::net
