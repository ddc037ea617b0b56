#include "net/listen.h"

#include <charconv>

#include "common/ip.h"

namespace backstop::net {

namespace {
// "localhost" or a plain IPv4/IPv6 literal (no brackets, tags or scope).
bool valid_host(std::string_view h) {
  if (h == "localhost") return true;
  return !h.empty() && h.find_first_not_of("0123456789abcdefABCDEF.:") == std::string_view::npos &&
         ip::parse(h).has_value();
}

Result<std::uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > 65535)
    return fail(Code::kInvalidArgument, "bad port '" + std::string(s) + "'");
  return static_cast<std::uint16_t>(v);
}
}  // namespace

std::string ListenSpec::to_string() const {
  if (kind == Kind::kUnix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "inet:[" + host + "]:" + std::to_string(port);
  return "inet:" + host + ":" + std::to_string(port);
}

Result<ListenSpec> parse_listen(std::string_view spec) {
  ListenSpec s;
  if (spec.starts_with("unix:") || spec.starts_with("local:")) {
    s.kind = ListenSpec::Kind::kUnix;
    s.path = std::string(spec.substr(spec.find(':') + 1));
    if (s.path.empty()) return fail(Code::kInvalidArgument, "unix: endpoint without a path");
    return s;
  }
  std::string_view rest;
  if (spec.starts_with("inet:")) {
    rest = spec.substr(5);
  } else if (spec.starts_with("inet6:")) {
    rest = spec.substr(6);
  } else {
    return fail(Code::kInvalidArgument,
                "endpoint must be inet:HOST:PORT or unix:PATH, got '" + std::string(spec) + "'");
  }
  std::string_view host, port;
  if (auto at = rest.find('@'); at != std::string_view::npos) {  // libmilter: PORT@HOST
    port = rest.substr(0, at);
    host = rest.substr(at + 1);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos)
      return fail(Code::kInvalidArgument, "endpoint '" + std::string(spec) + "' has no port");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) return fail(Code::kInvalidArgument, "endpoint '" + std::string(spec) + "' has no host");
  if (!valid_host(host)) {
    return fail(Code::kInvalidArgument, "endpoint '" + std::string(spec) +
                                            "': the host must be an IP address or localhost");
  }
  auto p = parse_port(port);
  BACKSTOP_TRY(p);
  s.host = std::string(host);
  s.port = *p;
  return s;
}

Result<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return fail(Code::kInvalidArgument, "expected [IPv6]:PORT, got '" + std::string(text) + "'");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return fail(Code::kInvalidArgument, "expected HOST:PORT, got '" + std::string(text) + "'");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto p = parse_port(port);
  if (!p || !valid_host(host)) {
    return fail(Code::kInvalidArgument, "bad HOST:PORT '" + std::string(text) + "' (an IP address or localhost, and a port)");
  }
  return std::pair{std::string(host), *p};
}

}  // namespace backstop::net
