#include "dnsbl/settings.h"

#include <charconv>

#include "common/text.h"
#include "dnsbl/query_name.h"

namespace backstop::dnsbl {
namespace {

std::string get(const config::Table& t, const char* key) {
  auto it = t.find(key);
  return it == t.end() ? std::string() : it->second;
}

}  // namespace

Status parse_resolver(std::string_view text, CaresOptions* out) {
  text = text::trim(text);
  out->server.clear();
  out->port = 53;
  if (text.empty()) return {};
  std::string_view host = text, port;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail(Code::kInvalidArgument, "dnsbl.resolver: missing ]");
    host = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail(Code::kInvalidArgument, "dnsbl.resolver: junk after ]");
      port = rest.substr(1);
    }
  } else if (text.find(':') == text.rfind(':') && text.find(':') != std::string_view::npos) {
    host = text.substr(0, text.find(':'));
    port = text.substr(text.find(':') + 1);
  }
  if (!ip::parse(host)) return fail(Code::kInvalidArgument, "dnsbl.resolver: not an IP address: " + std::string(host));
  out->server = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return fail(Code::kInvalidArgument, "dnsbl.resolver: bad port " + std::string(port));
    }
    out->port = static_cast<std::uint16_t>(value);
  }
  return {};
}

Result<DnsblSettings> dnsbl_settings(const config::Config& cfg) {
  DnsblSettings s;
  s.client.safe_mode = cfg.get_bool("dnsbl.safe_mode");
  s.resolver.timeout = std::chrono::milliseconds(cfg.get_int("dnsbl.timeout_ms"));
  BACKSTOP_TRY(parse_resolver(cfg.get_string("dnsbl.resolver"), &s.resolver));
  for (const auto& t : cfg.get_tables("dnsbl.zones")) {
    ZoneConfig z;
    z.name = get(t, "zone");
    if (auto st = validate_zone(z.name); !st) {
      return fail(Code::kInvalidArgument, "dnsbl.zones: " + st.error().message());
    }
    const std::string action = get(t, "action");
    if (!action.empty()) {
      auto a = parse_action(action);
      if (!a) return fail(Code::kInvalidArgument, "dnsbl.zones " + z.name + ": " + a.error().message());
      z.action = *a;
    }
    const std::string codes_copy = get(t, "codes");
    std::string_view rest = codes_copy;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto item = text::trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (item.empty()) continue;
      auto eq = item.find('=');
      auto code = text::trim(item.substr(0, eq));
      std::string meaning = eq == std::string_view::npos ? "listed" : std::string(text::trim(item.substr(eq + 1)));
      auto addr = ip::parse(code);
      if (!addr || addr->v6 || addr->bytes[0] != 127) {
        return fail(Code::kInvalidArgument,
                    "dnsbl.zones " + z.name + ": code is not in 127.0.0.0/8: " + std::string(code));
      }
      z.codes[ip::to_string(*addr)] = meaning;
    }
    z.message = get(t, "message");
    s.client.zones.push_back(std::move(z));
  }
  return s;
}

ListingPolicy listing_policy(const config::Config& cfg) {
  ListingPolicy p;
  p.threshold = static_cast<std::uint64_t>(cfg.get_int("trap.threshold"));
  p.expire_days = cfg.get_int("trap.expire_days");
  return p;
}

std::vector<ip::Network> relay_networks(const config::Config& cfg) {
  std::vector<ip::Network> out;
  for (const auto& entry : cfg.get_list("relays.ours")) {
    if (auto c = ip::parse_network(entry)) out.push_back(*c);
  }
  return out;
}

}  // namespace backstop::dnsbl
