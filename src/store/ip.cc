#include "store/ip.h"

#include <arpa/inet.h>

#include <charconv>

namespace backstop::store {
namespace {

// Longer text cannot be an address (INET6_ADDRSTRLEN is 46).
constexpr std::size_t kMaxIpText = 64;

unsigned bits(const IpAddress& ip) { return ip.v6 ? 128 : 32; }

}  // namespace

Result<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= kMaxIpText || text.find('\0') != std::string_view::npos) {
    return fail(Code::kInvalidArgument, "not an IP address: '" + std::string(text.substr(0, kMaxIpText)) + "'");
  }
  std::string z(text);
  IpAddress ip;
  if (inet_pton(AF_INET, z.c_str(), ip.bytes.data()) == 1) return ip;
  if (inet_pton(AF_INET6, z.c_str(), ip.bytes.data()) == 1) {
    ip.v6 = true;
    return ip;
  }
  return fail(Code::kInvalidArgument, "not an IP address: '" + z + "'");
}

std::string format_ip(const IpAddress& ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes.data(), buf, sizeof buf);
  return buf;
}

Result<std::string> canonical_ip(std::string_view text) {
  auto ip = parse_ip(text);
  if (!ip) return unexpected<Error>(std::move(ip).error());
  return format_ip(*ip);
}

Result<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip) return unexpected<Error>(std::move(ip).error());
  Cidr c{*ip, bits(*ip)};
  if (slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    unsigned prefix = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || prefix > bits(*ip)) {
      return fail(Code::kInvalidArgument, "bad CIDR prefix: '" + std::string(text) + "'");
    }
    c.prefix = prefix;
  }
  for (unsigned i = c.prefix; i < bits(c.base); ++i) {
    c.base.bytes[i / 8] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
  }
  return c;
}

std::string format_cidr(const Cidr& c) {
  return format_ip(c.base) + "/" + std::to_string(c.prefix);
}

bool cidr_contains(const Cidr& c, const IpAddress& ip) {
  if (c.base.v6 != ip.v6) return false;
  for (unsigned i = 0; i < c.prefix; ++i) {
    unsigned mask = 0x80u >> (i % 8);
    if ((c.base.bytes[i / 8] & mask) != (ip.bytes[i / 8] & mask)) return false;
  }
  return true;
}

}  // namespace backstop::store
