#include "common/ip.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace backstop::ip {
namespace {

std::string_view strip(std::string_view t) {
  if (t.size() >= 2 && t.front() == '[' && t.back() == ']') t = t.substr(1, t.size() - 2);
  if (t.size() > 5 && (t.substr(0, 5) == "IPv6:" || t.substr(0, 5) == "ipv6:")) t.remove_prefix(5);
  return t;
}

constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

Result<Address> parse(std::string_view text) {
  if (text.size() > kMaxIpText) return fail(Code::kInvalidArgument, "IP literal too long");
  std::string_view t = strip(text);
  char buf[kMaxIpText + 1];
  std::memcpy(buf, t.data(), t.size());
  buf[t.size()] = '\0';
  Address a;
  if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
    if (std::memcmp(a.bytes.data(), kMappedPrefix, sizeof kMappedPrefix) == 0) {
      Address v4;
      std::memcpy(v4.bytes.data(), a.bytes.data() + 12, 4);
      return v4;
    }
    a.v6 = true;
    return a;
  }
  return fail(Code::kInvalidArgument, "not an IP address: '" + std::string(text) + "'");
}

std::string to_string(const Address& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(a.v6 ? AF_INET6 : AF_INET, a.bytes.data(), buf, sizeof buf);
  return buf;
}

Result<Network> parse_network(std::string_view text) {
  auto slash = text.find('/');
  auto addr = parse(text.substr(0, slash));
  if (!addr) return fail(Code::kInvalidArgument, "not a network: '" + std::string(text) + "'");
  int max = addr->v6 ? 128 : 32;
  int prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || p != digits.data() + digits.size() || digits.empty() || prefix < 0 ||
        prefix > max) {
      return fail(Code::kInvalidArgument, "bad prefix length in '" + std::string(text) + "'");
    }
  }
  Network n{*addr, prefix};
  for (int bit = prefix; bit < max; ++bit) {
    n.base.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return n;
}

std::string to_string(const Network& n) { return to_string(n.base) + "/" + std::to_string(n.prefix); }

bool contains(const Network& n, const Address& a) noexcept {
  if (n.base.v6 != a.v6) return false;
  int full = n.prefix / 8;
  if (std::memcmp(n.base.bytes.data(), a.bytes.data(), full) != 0) return false;
  int rest = n.prefix % 8;
  if (rest == 0) return true;
  std::uint8_t mask = static_cast<std::uint8_t>(0xff00u >> rest);
  return (n.base.bytes[full] & mask) == (a.bytes[full] & mask);
}

}  // namespace backstop::ip
