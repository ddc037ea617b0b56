#include "audit/postfix.h"

#include <algorithm>
#include <set>

#include "common/text.h"

namespace backstop::audit {
namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Logical lines as Postfix reads them: a line starting with whitespace
// continues the previous one; comment (`#` first) and blank lines are
// skipped. Each entry: (its first physical line number, text joined by
// single spaces).
std::vector<std::pair<std::size_t, std::string>> logical_lines(std::string_view text) {
  std::vector<std::pair<std::size_t, std::string>> out;
  std::size_t lineno = 0;
  bool open = false;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view l = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++lineno;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    const std::string_view t = text::trim(l);
    if (t.empty() || t.front() == '#') continue;
    if (text::is_space(l.front()) && open) {
      out.back().second += ' ';
      out.back().second += t;
      continue;
    }
    out.emplace_back(lineno, std::string(t));
    open = true;
  }
  return out;
}

int compatibility_major(const MainConfig& cfg) {
  auto it = cfg.params.find("compatibility_level");
  if (it == cfg.params.end()) return 0;
  int major = 0;
  for (char c : it->second.value) {
    if (c < '0' || c > '9') break;
    major = std::min(major * 10 + (c - '0'), 1000);
  }
  return major;
}

using Overrides = std::vector<std::pair<std::string, std::string>>;

void expand_into(const MainConfig& cfg, std::string_view v, const Overrides* ov, std::size_t depth, std::string& out);

std::string lookup(const MainConfig& cfg, std::string_view name, const Overrides* ov, std::size_t depth) {
  std::string out;
  if (depth >= kMaxExpansionDepth) return out;
  expand_into(cfg, raw_value(cfg, name, ov), ov, depth + 1, out);
  return out;
}

// `{text}` -> text; other text unchanged (the ${name?{a}:{b}} form).
std::string_view unbrace(std::string_view t) {
  t = text::trim(t);
  if (t.size() >= 2 && t.front() == '{' && t.back() == '}') t = t.substr(1, t.size() - 2);
  return t;
}

void expand_into(const MainConfig& cfg, std::string_view v, const Overrides* ov, std::size_t depth, std::string& out) {
  std::size_t i = 0;
  while (i < v.size() && out.size() < kMaxExpandedBytes) {
    const char c = v[i];
    if (c != '$' || i + 1 >= v.size()) {
      out += c;
      ++i;
      continue;
    }
    const char n = v[i + 1];
    if (n == '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (n == '{' || n == '(') {
      const char close = n == '{' ? '}' : ')';
      std::size_t j = i + 2, level = 1;
      for (; j < v.size(); ++j) {
        if (v[j] == n) ++level;
        if (v[j] == close && --level == 0) break;
      }
      if (j >= v.size()) {  // unterminated: keep the text as is
        out.append(v.substr(i));
        return;
      }
      const std::string_view inner = v.substr(i + 2, j - i - 2);
      std::size_t k = 0;
      while (k < inner.size() && name_char(inner[k])) ++k;
      const std::string_view name = inner.substr(0, k);
      const std::string value = lookup(cfg, name, ov, depth);
      if (k < inner.size() && (inner[k] == '?' || inner[k] == ':')) {
        std::string_view rest = inner.substr(k + 1);
        std::string_view if_set = rest, if_unset;
        if (inner[k] == ':') {
          if_set = {};
          if_unset = rest;
        } else if (!rest.empty() && text::trim(rest).front() == '{') {
          // ${name?{a}:{b}}
          const auto t = text::trim(rest);
          std::size_t lv = 0, m = 0;
          for (; m < t.size(); ++m) {
            if (t[m] == '{') ++lv;
            if (t[m] == '}' && --lv == 0) break;
          }
          if_set = t.substr(0, std::min(m + 1, t.size()));
          auto after = m + 1 < t.size() ? text::trim(t.substr(m + 1)) : std::string_view{};
          if (!after.empty() && after.front() == ':') if_unset = after.substr(1);
        }
        const std::string_view chosen = value.empty() ? unbrace(if_unset) : unbrace(if_set);
        if (depth < kMaxExpansionDepth) expand_into(cfg, chosen, ov, depth + 1, out);
      } else {
        out += value;
      }
      i = j + 1;
      continue;
    }
    if (name_char(n)) {
      std::size_t j = i + 1;
      while (j < v.size() && name_char(v[j])) ++j;
      out += lookup(cfg, v.substr(i + 1, j - i - 1), ov, depth);
      i = j;
      continue;
    }
    out += c;
    ++i;
  }
  if (out.size() > kMaxExpandedBytes) out.resize(kMaxExpandedBytes);
}

}  // namespace

Result<MainConfig> parse_main_cf(std::string_view text, std::string source) {
  if (text.size() > kMaxPostfixConfigBytes) return fail(Code::kTooLarge, source + " is larger than 1 MiB");
  MainConfig cfg;
  cfg.source = std::move(source);
  for (auto& [lineno, l] : logical_lines(text)) {
    const auto eq = l.find('=');
    if (eq == std::string::npos) {
      return fail(Code::kMalformed, cfg.source + ":" + std::to_string(lineno) + ": not a `name = value` line");
    }
    const std::string name(text::trim(std::string_view(l).substr(0, eq)));
    if (name.empty() || !std::all_of(name.begin(), name.end(), name_char)) {
      return fail(Code::kMalformed, cfg.source + ":" + std::to_string(lineno) + ": bad parameter name");
    }
    if (cfg.params.size() >= kMaxParameters && !cfg.params.contains(name)) {
      return fail(Code::kTooLarge, cfg.source + ": more than " + std::to_string(kMaxParameters) + " parameters");
    }
    cfg.params[name] = Param{std::string(text::trim(std::string_view(l).substr(eq + 1))), lineno};
  }
  return cfg;
}

namespace {

// master.cf fields: whitespace-separated, `{ ... }` kept as one token.
std::vector<std::string> master_tokens(std::string_view l) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < l.size()) {
    while (i < l.size() && text::is_space(l[i])) ++i;
    if (i >= l.size()) break;
    std::size_t j = i;
    if (l[i] == '{') {
      std::size_t level = 0;
      for (; j < l.size(); ++j) {
        if (l[j] == '{') ++level;
        if (l[j] == '}' && --level == 0) {
          ++j;
          break;
        }
      }
    } else {
      while (j < l.size() && !text::is_space(l[j])) ++j;
    }
    out.emplace_back(l.substr(i, j - i));
    i = j;
  }
  return out;
}

bool loopback_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host.starts_with("127.") || host == "::1" || text::iequals(host, "localhost");
}

std::string normalize_restrictions(std::string_view v) {
  std::string out;
  for (const auto& t : split_list(v)) {
    if (!out.empty()) out += ',';
    out += text::ascii_lower(t);
  }
  return out;
}

}  // namespace

bool MasterService::public_smtpd() const {
  if (type != "inet" || command != "smtpd") return false;
  const auto colon = name.rfind(':');
  if (colon == std::string::npos) return true;  // a port or service name on every address
  if (!loopback_host(std::string_view(name).substr(0, colon))) return true;
  // On loopback: the reinjection smtpd of a content filter is internal (it
  // turns the filter off, or admits only local clients); any other may
  // stand behind a proxy or port forward, and counts as public.
  const auto filter = override_of("content_filter");
  if (filter && text::trim(*filter).empty()) return false;
  if (auto c = override_of("smtpd_client_restrictions"); c && normalize_restrictions(*c) == "permit_mynetworks,reject") {
    return false;
  }
  return true;
}

bool MasterService::authenticated_only() const {
  for (const char* p : {"smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
                        "smtpd_relay_restrictions", "smtpd_recipient_restrictions"}) {
    auto v = override_of(p);
    if (!v) continue;
    const auto n = normalize_restrictions(*v);
    if (n == "permit_sasl_authenticated,reject" || n == "permit_tls_clientcerts,reject" ||
        n == "permit_sasl_authenticated,permit_tls_clientcerts,reject") {
      return true;
    }
  }
  return false;
}

std::optional<std::string> MasterService::override_of(std::string_view n) const {
  std::optional<std::string> out;
  for (const auto& [k, v] : overrides) {
    if (k == n) out = v;
  }
  return out;
}

Result<std::vector<MasterService>> parse_master_cf(std::string_view text) {
  if (text.size() > kMaxPostfixConfigBytes) return fail(Code::kTooLarge, "master.cf is larger than 1 MiB");
  std::vector<MasterService> out;
  for (auto& [lineno, l] : logical_lines(text)) {
    auto f = master_tokens(l);
    if (f.size() < 8) return fail(Code::kMalformed, "master.cf:" + std::to_string(lineno) + ": fewer than 8 fields");
    if (out.size() >= kMaxServices) return fail(Code::kTooLarge, "master.cf: too many services");
    MasterService s;
    s.name = f[0];
    s.type = f[1];
    s.command = f[7];
    s.line = lineno;
    for (std::size_t i = 8; i < f.size(); ++i) {
      std::string setting;
      if (f[i] == "-o" && i + 1 < f.size()) {
        setting = f[++i];
      } else if (f[i].starts_with("-o") && f[i].size() > 2) {
        setting = f[i].substr(2);
      } else {
        continue;
      }
      if (setting.size() >= 2 && setting.front() == '{' && setting.back() == '}') {
        setting = std::string(text::trim(std::string_view(setting).substr(1, setting.size() - 2)));
      }
      const auto eq = setting.find('=');
      if (eq == std::string::npos) continue;
      s.overrides.emplace_back(std::string(text::trim(std::string_view(setting).substr(0, eq))),
                               std::string(text::trim(std::string_view(setting).substr(eq + 1))));
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<std::string> postfix_default(std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> kDefaults = {
      {"mydestination", "$myhostname, localhost.$mydomain, localhost"},
      {"local_recipient_maps", "proxy:unix:passwd.byname $alias_maps"},
      {"alias_maps", "hash:/etc/aliases, nis:mail.aliases"},
      {"smtpd_reject_unlisted_recipient", "yes"},
      {"soft_bounce", "no"},
      {"milter_default_action", "tempfail"},
      {"unverified_recipient_reject_code", "450"},
      {"unknown_local_recipient_reject_code", "550"},
      {"config_directory", "/etc/postfix"},
      {"local_transport", "local:$myhostname"},
  };
  auto it = kDefaults.find(name);
  if (it == kDefaults.end()) return std::nullopt;
  return it->second;
}

std::string raw_value(const MainConfig& cfg, std::string_view name, const Overrides* ov) {
  if (ov != nullptr) {
    std::optional<std::string> v;
    for (const auto& [k, val] : *ov) {
      if (k == name) v = val;
    }
    if (v) return *v;
  }
  if (auto it = cfg.params.find(std::string(name)); it != cfg.params.end()) return it->second.value;
  if (name == "relay_domains") return compatibility_major(cfg) < 2 ? "$mydestination" : "";
  if (name == "smtpd_relay_restrictions") {
    return compatibility_major(cfg) < 1 ? "" : "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination";
  }
  return postfix_default(name).value_or("");
}

std::string expand(const MainConfig& cfg, std::string_view value, const Overrides* ov) {
  std::string out;
  expand_into(cfg, value, ov, 0, out);
  return out;
}

std::vector<std::string> split_list(std::string_view v) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && (text::is_space(v[i]) || v[i] == ',')) ++i;
    if (i >= v.size()) break;
    std::size_t j = i;
    std::size_t level = 0;
    while (j < v.size()) {
      if (v[j] == '{') ++level;
      if (v[j] == '}' && level > 0) --level;
      if (level == 0 && (text::is_space(v[j]) || v[j] == ',')) break;
      ++j;
    }
    out.emplace_back(v.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace backstop::audit
