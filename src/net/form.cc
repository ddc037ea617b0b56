#include "net/form.h"

namespace backstop::net {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (s.size() - i < 3) return fail(Code::kMalformed, "truncated percent escape");
      const int hi = hex(s[i + 1]);
      const int lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return fail(Code::kMalformed, "bad percent escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<Form> parse_form(std::string_view data) {
  if (data.size() > kMaxFormBytes) return fail(Code::kTooLarge, "form data too large");
  Form out;
  std::size_t pos = 0;
  while (pos <= data.size()) {
    std::size_t amp = data.find('&', pos);
    if (amp == std::string_view::npos) amp = data.size();
    const std::string_view pair = data.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    if (out.size() == kMaxFormFields) return fail(Code::kTooLarge, "too many form fields");
    const auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), true);
    if (!name) return unexpected<Error>(std::move(name).error());
    std::string value;
    if (eq != std::string_view::npos) {
      auto v = percent_decode(pair.substr(eq + 1), true);
      if (!v) return unexpected<Error>(std::move(v).error());
      value = std::move(*v);
    }
    if (name->size() > kMaxFormValueBytes || value.size() > kMaxFormValueBytes)
      return fail(Code::kTooLarge, "form field too large");
    out.push_back({std::move(*name), std::move(value)});
  }
  return out;
}

std::optional<std::string_view> form_value(const Form& form, std::string_view name) {
  for (const auto& f : form)
    if (f.name == name) return std::string_view(f.value);
  return std::nullopt;
}

}  // namespace backstop::net
