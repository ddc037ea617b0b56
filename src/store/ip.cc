#include "store/ip.h"

namespace backstop::store {

Result<IpAddress> parse_ip(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) {
    return fail(Code::kInvalidArgument, "NUL in an IP address");
  }
  return ip::parse(text);
}

std::string format_ip(const IpAddress& a) { return ip::to_string(a); }

Result<std::string> canonical_ip(std::string_view text) {
  auto a = parse_ip(text);
  if (!a) return unexpected<Error>(std::move(a).error());
  return ip::to_string(*a);
}

Result<Cidr> parse_cidr(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) {
    return fail(Code::kInvalidArgument, "NUL in a CIDR");
  }
  return ip::parse_network(text);
}

std::string format_cidr(const Cidr& c) { return ip::to_string(c); }

bool cidr_contains(const Cidr& c, const IpAddress& a) { return ip::contains(c, a); }

}  // namespace backstop::store
