// Test support: the first difference between two parsed messages, for the
// tests and the fuzz target that check parse_message against
// detail::parse_message_whole (elide.h). Header-only; not used by the product.
#pragma once

#include <string>

#include "mail/message.h"

namespace backstop::mail::detail {

inline std::string header_list_difference(const HeaderList& a, const HeaderList& b) {
  if (a.size() != b.size()) return "field count " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const HeaderField& x = a.fields()[i];
    const HeaderField& y = b.fields()[i];
    if (x.name != y.name || x.value != y.value) return "field " + std::to_string(i) + " " + x.name + " vs " + y.name;
  }
  return {};
}

// "" when `a` and `b` hold the same headers, parts, text, delivery status,
// embedded originals and conditions; else what differs first.
inline std::string message_difference(const Message& a, const Message& b) {
  if (std::string d = header_list_difference(a.headers, b.headers); !d.empty()) return "headers: " + d;
  if (a.parts.size() != b.parts.size()) {
    return "part count " + std::to_string(a.parts.size()) + " vs " + std::to_string(b.parts.size());
  }
  for (std::size_t i = 0; i < a.parts.size(); ++i) {
    const Part& x = a.parts[i];
    const Part& y = b.parts[i];
    if (x.parent != y.parent || x.depth != y.depth || x.type != y.type || x.subtype != y.subtype ||
        x.charset != y.charset || x.report_type != y.report_type || x.filename != y.filename ||
        x.disposition != y.disposition || x.decoded_size != y.decoded_size) {
      return "part " + std::to_string(i) + ": " + x.type + "/" + x.subtype + " size " +
             std::to_string(x.decoded_size) + " vs " + y.type + "/" + y.subtype + " size " +
             std::to_string(y.decoded_size);
    }
  }
  if (a.text != b.text) return "text";
  if (a.embedded_text != b.embedded_text) return "embedded text";
  if (a.delivery_status.size() != b.delivery_status.size()) return "delivery-status count";
  for (std::size_t i = 0; i < a.delivery_status.size(); ++i) {
    const DeliveryStatus& x = a.delivery_status[i];
    const DeliveryStatus& y = b.delivery_status[i];
    if (x.per_recipient.size() != y.per_recipient.size()) return "delivery-status recipients";
    auto same = [](const DsnFields& p, const DsnFields& q) {
      if (p.fields.size() != q.fields.size()) return false;
      for (std::size_t k = 0; k < p.fields.size(); ++k) {
        if (p.fields[k].name != q.fields[k].name || p.fields[k].value != q.fields[k].value) return false;
      }
      return true;
    };
    if (!same(x.per_message, y.per_message)) return "delivery-status per-message fields";
    for (std::size_t k = 0; k < x.per_recipient.size(); ++k) {
      if (!same(x.per_recipient[k], y.per_recipient[k])) return "delivery-status recipient fields";
    }
  }
  if (a.embedded.size() != b.embedded.size()) return "embedded count";
  for (std::size_t i = 0; i < a.embedded.size(); ++i) {
    if (a.embedded[i].kind != b.embedded[i].kind) return "embedded kind";
    if (std::string d = header_list_difference(a.embedded[i].headers, b.embedded[i].headers); !d.empty()) {
      return "embedded headers: " + d;
    }
  }
  if (a.conditions != b.conditions) return "conditions";
  if (a.raw_size != b.raw_size) return "raw size";
  return {};
}

}  // namespace backstop::mail::detail
