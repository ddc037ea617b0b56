#include "dnsbl/ip.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace backstop::dnsbl {

Result<IpAddress> parse_ip(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.size() > 5 && (text.substr(0, 5) == "IPv6:" || text.substr(0, 5) == "ipv6:")) {
    text = text.substr(5);
  }
  if (text.empty() || text.size() > kMaxIpTextBytes) {
    return fail(Code::kInvalidArgument, "not an IP address");
  }
  char buf[kMaxIpTextBytes + 1];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress ip;
  if (inet_pton(AF_INET, buf, ip.bytes.data()) == 1) {
    ip.v6 = false;
    return ip;
  }
  if (inet_pton(AF_INET6, buf, ip.bytes.data()) == 1) {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(ip.bytes.data(), kMapped, sizeof kMapped) == 0) {
      IpAddress v4;
      std::memcpy(v4.bytes.data(), ip.bytes.data() + 12, 4);
      return v4;
    }
    ip.v6 = true;
    return ip;
  }
  return fail(Code::kInvalidArgument, "not an IP address: " + std::string(text));
}

std::string to_string(const IpAddress& ip) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes.data(), buf, sizeof buf);
  return buf;
}

Result<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip) return unexpected<Error>(std::move(ip).error());
  const int max = ip->v6 ? 128 : 32;
  // An IPv4-mapped network written in IPv6 form: ::ffff:192.0.2.0/120.
  const bool written_v6 = text.substr(0, slash).find(':') != std::string_view::npos;
  const int written_max = written_v6 ? 128 : 32;
  int prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
        prefix < 0 || prefix > written_max) {
      return fail(Code::kInvalidArgument, "bad prefix length in " + std::string(text));
    }
    if (written_v6 && !ip->v6) {
      if (prefix < 96) return fail(Code::kInvalidArgument, "mapped prefix too short: " + std::string(text));
      prefix -= 96;
    }
  }
  Cidr c;
  c.network = *ip;
  c.prefix = prefix;
  for (int bit = prefix; bit < max; ++bit) {
    c.network.bytes[static_cast<std::size_t>(bit / 8)] &=
        static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return c;
}

std::string to_string(const Cidr& cidr) {
  return to_string(cidr.network) + "/" + std::to_string(cidr.prefix);
}

bool contains(const Cidr& cidr, const IpAddress& ip) noexcept {
  if (cidr.network.v6 != ip.v6) return false;
  int full = cidr.prefix / 8;
  for (int i = 0; i < full; ++i) {
    if (cidr.network.bytes[static_cast<std::size_t>(i)] != ip.bytes[static_cast<std::size_t>(i)]) return false;
  }
  int rest = cidr.prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
  return (ip.bytes[static_cast<std::size_t>(full)] & mask) == cidr.network.bytes[static_cast<std::size_t>(full)];
}

}  // namespace backstop::dnsbl
