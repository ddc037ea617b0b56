#include "dnsbl/query_name.h"

namespace backstop::dnsbl {
namespace {

// 32 nibbles and 32 dots: the longest reversed-address prefix.
constexpr std::size_t kLongestPrefix = 64;

std::string_view strip_dot(std::string_view zone) {
  if (!zone.empty() && zone.back() == '.') zone.remove_suffix(1);
  return zone;
}

}  // namespace

Status validate_zone(std::string_view zone) {
  zone = strip_dot(zone);
  if (zone.empty()) return fail(Code::kInvalidArgument, "empty DNSBL zone");
  if (zone.size() + kLongestPrefix > kMaxDnsNameBytes) {
    return fail(Code::kInvalidArgument, "DNSBL zone name too long");
  }
  std::size_t label = 0;
  for (std::size_t i = 0; i <= zone.size(); ++i) {
    if (i == zone.size() || zone[i] == '.') {
      if (label == 0 || label > kMaxDnsLabelBytes) {
        return fail(Code::kInvalidArgument, "bad label in DNSBL zone " + std::string(zone));
      }
      label = 0;
      continue;
    }
    const char c = zone[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return fail(Code::kInvalidArgument, "bad character in DNSBL zone " + std::string(zone));
    ++label;
  }
  return {};
}

Result<std::string> query_name(const ip::Address& ip, std::string_view zone) {
  BACKSTOP_TRY(validate_zone(zone));
  zone = strip_dot(zone);
  std::string out;
  out.reserve(kLongestPrefix + zone.size());
  if (!ip.v6) {
    for (int i = 3; i >= 0; --i) {
      out += std::to_string(ip.bytes[static_cast<std::size_t>(i)]);
      out += '.';
    }
  } else {
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; --i) {
      const auto b = ip.bytes[static_cast<std::size_t>(i)];
      out += kHex[b & 0xf];
      out += '.';
      out += kHex[b >> 4];
      out += '.';
    }
  }
  out += zone;
  return out;
}

Result<std::string> query_name(std::string_view ip, std::string_view zone) {
  auto parsed = ip::parse(ip);
  if (!parsed) return unexpected<Error>(std::move(parsed).error());
  return query_name(*parsed, zone);
}

}  // namespace backstop::dnsbl
