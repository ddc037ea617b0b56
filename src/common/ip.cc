#include "common/ip.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "common/text.h"

namespace backstop::ip {
namespace {

// "/128": the longest prefix suffix of a network.
constexpr std::size_t kMaxPrefixText = 4;
// First bits of an IPv4-mapped IPv6 address (::ffff:0:0/96).
constexpr int kMappedPrefixBits = 96;
constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string_view strip(std::string_view t) {
  t = text::strip_brackets(t, '[', ']');
  if (text::istarts_with(t, "IPv6:")) t.remove_prefix(5);
  return t;
}

unexpected<Error> invalid(std::string what, std::string_view text) {
  return fail(Code::kInvalidArgument, what + " " + text::quote(text));
}

}  // namespace

Result<Address> parse(std::string_view text) {
  if (text.size() > kMaxIpText) return fail(Code::kInvalidArgument, "IP literal too long");
  const std::string_view t = strip(text);
  if (t.empty() || t.find('\0') != std::string_view::npos) return invalid("not an IP address:", text);
  char buf[kMaxIpText + 1];
  std::memcpy(buf, t.data(), t.size());
  buf[t.size()] = '\0';
  Address a;
  if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
    if (std::memcmp(a.bytes.data(), kMappedPrefix, sizeof kMappedPrefix) == 0) {
      Address v4;
      std::memcpy(v4.bytes.data(), a.bytes.data() + sizeof kMappedPrefix, 4);
      return v4;
    }
    a.v6 = true;
    return a;
  }
  return invalid("not an IP address:", text);
}

std::string to_string(const Address& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(a.v6 ? AF_INET6 : AF_INET, a.bytes.data(), buf, sizeof buf);
  return buf;
}

Result<std::string> canonical(std::string_view text) {
  auto a = parse(text);
  if (!a) return unexpected<Error>(std::move(a).error());
  return to_string(*a);
}

Result<Network> parse_network(std::string_view text) {
  if (text.size() > kMaxIpText + kMaxPrefixText) return fail(Code::kInvalidArgument, "network too long");
  const auto slash = text.find('/');
  const std::string_view addr_text = text.substr(0, slash);
  auto addr = parse(addr_text);
  if (!addr) return invalid("not a network:", text);
  const int max = addr->v6 ? 128 : 32;
  // Written in IPv6 form but folded to IPv4: the prefix counts IPv6 bits.
  const bool mapped = !addr->v6 && addr_text.find(':') != std::string_view::npos;
  int prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const int written_max = mapped ? 128 : max;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || digits.front() == '-' || ec != std::errc() ||
        end != digits.data() + digits.size() || prefix < 0 || prefix > written_max) {
      return invalid("bad prefix length in", text);
    }
    if (mapped) {
      if (prefix < kMappedPrefixBits) {
        return invalid("IPv4-mapped network needs a prefix of 96..128:", text);
      }
      prefix -= kMappedPrefixBits;
    }
  }
  Network n{*addr, prefix};
  for (int bit = prefix; bit < max; ++bit) {
    n.base.bytes[static_cast<std::size_t>(bit / 8)] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return n;
}

std::string to_string(const Network& n) { return to_string(n.base) + "/" + std::to_string(n.prefix); }

bool contains(const Network& n, const Address& a) noexcept {
  if (n.base.v6 != a.v6) return false;
  const auto full = static_cast<std::size_t>(n.prefix / 8);
  if (std::memcmp(n.base.bytes.data(), a.bytes.data(), full) != 0) return false;
  const int rest = n.prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
  return (n.base.bytes[full] & mask) == (a.bytes[full] & mask);
}

}  // namespace backstop::ip
