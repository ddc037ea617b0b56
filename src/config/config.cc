// TOML reading through toml++ (header-only: included here only, so its
// compile cost is paid once). toml++ throws on syntax errors; the exception
// is caught here and never leaves this file.
#include "config/config.h"

#include "common/ip.h"
#include "net/listen.h"
#include "store/redis_store.h"  // kMaxRedisPrefixBytes (a constant: no link dependency)

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/text.h"

namespace backstop::config {
namespace {

const char* type_name(Type t) {
  switch (t) {
    case Type::kBool: return "boolean";
    case Type::kInt: return "integer";
    case Type::kString: return "string";
    case Type::kStringList: return "array of strings";
    case Type::kTableList: return "array of tables";
  }
  return "?";
}

bool in_alternatives(std::string_view alts, std::string_view v) {
  while (!alts.empty()) {
    auto bar = alts.find('|');
    auto alt = alts.substr(0, bar);
    if (alt == v) return true;
    if (bar == std::string_view::npos) break;
    alts.remove_prefix(bar + 1);
  }
  return false;
}

// Scalar TOML node as text (for table-list entries).
std::optional<std::string> scalar_text(const toml::node& n) {
  if (auto s = n.value<std::string>()) return *s;
  if (n.is_integer()) return std::to_string(*n.value<std::int64_t>());
  if (n.is_boolean()) return std::string(*n.value<bool>() ? "true" : "false");
  if (n.is_floating_point()) return std::to_string(*n.value<double>());
  if (const auto* arr = n.as_array()) {
    std::string joined;
    for (const auto& e : *arr) {
      auto t = scalar_text(e);
      if (!t) return std::nullopt;
      if (!joined.empty()) joined += ',';
      joined += *t;
    }
    return joined;
  }
  return std::nullopt;
}

}  // namespace

// Converts TOML nodes to typed values against the key table.
class Parser {
 public:
  explicit Parser(Config* cfg) : cfg_(cfg) {}

  Status walk(const toml::table& t, const std::string& prefix) {
    for (const auto& [k, node] : t) {
      std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      const KeyDef* def = find_key(name);
      // Only the sections of the key table are walked into: an unknown one
      // is an error at once, so nesting costs no more than our own depth.
      if (!def && node.is_table() && is_section(name)) {
        BACKSTOP_TRY(walk(*node.as_table(), name));
        continue;
      }
      if (!def) {
        // An unknown table names its first key when that is a value
        // ("[no]\nsuch = 1": 'no.such'), else itself.
        if (const toml::table* sub = node.as_table()) {
          if (sub->empty() || sub->begin()->second.is_table()) {
            return fail(Code::kInvalidArgument, "unknown section '" + name + "'");
          }
          name += "." + std::string(sub->begin()->first.str());
        }
        return fail(Code::kInvalidArgument, "unknown key '" + name + "'");
      }
      BACKSTOP_TRY(set(*def, node));
    }
    return {};
  }

  Status set(const KeyDef& def, const toml::node& node) {
    std::string name(def.name);
    auto bad_type = [&] {
      return fail(Code::kInvalidArgument,
                  "key '" + name + "' must be " + type_name(def.type));
    };
    Value v;
    switch (def.type) {
      case Type::kBool: {
        auto b = node.value<bool>();
        if (!node.is_boolean() || !b) return bad_type();
        v = *b;
        break;
      }
      case Type::kInt: {
        if (!node.is_integer()) return bad_type();
        std::int64_t i = *node.value<std::int64_t>();
        if (i < def.min || i > def.max) {
          return fail(Code::kInvalidArgument, "key '" + name + "' must be between " +
                                                  std::to_string(def.min) + " and " +
                                                  std::to_string(def.max));
        }
        v = i;
        break;
      }
      case Type::kString: {
        if (!node.is_string()) return bad_type();
        std::string s = *node.value<std::string>();
        if (!def.allowed.empty() && !in_alternatives(def.allowed, s)) {
          return fail(Code::kInvalidArgument, "key '" + name + "' must be one of " +
                                                  std::string(def.allowed) + ", not '" + s + "'");
        }
        if (auto st = check_syntax(def.syntax, s); !st)
          return fail(Code::kInvalidArgument, "key '" + name + "': " + st.error().message());
        v = std::move(s);
        break;
      }
      case Type::kStringList: {
        const auto* arr = node.as_array();
        if (!arr) return bad_type();
        std::vector<std::string> list;
        for (const auto& e : *arr) {
          if (!e.is_string()) return bad_type();
          list.push_back(*e.value<std::string>());
          if (auto st = check_syntax(def.syntax, list.back()); !st)
            return fail(Code::kInvalidArgument, "key '" + name + "': " + st.error().message());
        }
        v = std::move(list);
        break;
      }
      case Type::kTableList: {
        const auto* arr = node.as_array();
        if (!arr) return bad_type();
        std::vector<Table> tables;
        for (const auto& e : *arr) {
          const auto* tbl = e.as_table();
          if (!tbl) return bad_type();
          Table row;
          for (const auto& [sk, sn] : *tbl) {
            std::string sub(sk.str());
            if (!in_alternatives(def.table_keys, sub)) {
              return fail(Code::kInvalidArgument, "unknown key '" + sub + "' in an entry of '" +
                                                      name + "' (allowed: " +
                                                      std::string(def.table_keys) + ")");
            }
            auto text = scalar_text(sn);
            if (!text) return bad_type();
            row[sub] = *text;
          }
          tables.push_back(std::move(row));
        }
        v = std::move(tables);
        break;
      }
    }
    cfg_->values_[name] = std::move(v);
    cfg_->set_[name] = true;
    return {};
  }

 private:
  Config* cfg_;
};

namespace {

Result<toml::table> parse_toml(std::string_view text, std::string_view source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    return fail(Code::kInvalidArgument, msg.str());
  }
}

const Config& builtin_defaults() {
  static const Config cfg = [] {
    std::string text;
    for (const auto& k : keys()) {
      text += std::string(k.name) + " = " + std::string(k.default_toml) + "\n";
    }
    auto parsed = Config::parse(text, "defaults");
    BACKSTOP_INVARIANT(parsed.has_value());
    return *parsed;
  }();
  return cfg;
}

}  // namespace

Config Config::defaults() {
  Config c = builtin_defaults();
  c.set_.clear();
  c.source_ = "defaults";
  return c;
}

Result<Config> Config::parse(std::string_view toml_text, std::string_view source_name) {
  auto tbl = parse_toml(toml_text, source_name);
  BACKSTOP_TRY(tbl);
  Config cfg;
  if (source_name != "defaults") cfg = defaults();
  cfg.source_ = std::string(source_name);
  Parser p(&cfg);
  auto st = p.walk(*tbl, "");
  if (!st) return fail(st.error().code(), std::string(source_name) + ": " + st.error().message());
  return cfg;
}

Status Config::override(std::string_view key, std::string_view toml_value) {
  std::string text = std::string(key) + " = " + std::string(toml_value) + "\n";
  auto tbl = parse_toml(text, "override");
  BACKSTOP_TRY(tbl);
  Parser p(this);
  return p.walk(*tbl, "");
}

Result<Config> Config::load_file(const std::string& path) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // The reason matters: after serve drops privileges, a reload may find the
    // file unreadable for its user (EACCES), which is not "missing".
    const int err = errno;
    const std::string why = err ? std::string(": ") + std::strerror(err) : std::string();
    return fail(err == 0 || err == ENOENT ? Code::kNotFound : Code::kEnvironment,
                "cannot read configuration file " + path + why);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail(Code::kEnvironment, "error reading configuration file " + path);
  return parse(ss.str(), path);
}

namespace {
template <class T>
const T& typed(const std::map<std::string, Value, std::less<>>& m, std::string_view key) {
  auto it = m.find(key);
  BACKSTOP_INVARIANT(it != m.end());
  const T* p = std::get_if<T>(&it->second);
  BACKSTOP_INVARIANT(p != nullptr);
  return *p;
}
}  // namespace

bool Config::get_bool(std::string_view key) const { return typed<bool>(values_, key); }
std::int64_t Config::get_int(std::string_view key) const { return typed<std::int64_t>(values_, key); }
const std::string& Config::get_string(std::string_view key) const {
  return typed<std::string>(values_, key);
}
const std::vector<std::string>& Config::get_list(std::string_view key) const {
  return typed<std::vector<std::string>>(values_, key);
}
const std::vector<Table>& Config::get_tables(std::string_view key) const {
  return typed<std::vector<Table>>(values_, key);
}
bool Config::is_set(std::string_view key) const { return set_.find(key) != set_.end(); }

namespace {
std::string value_toml(const Value& v) {
  struct V {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(const std::string& s) const { return text::quote(s); }
    std::string operator()(const std::vector<std::string>& l) const {
      std::string out = "[";
      for (std::size_t i = 0; i < l.size(); ++i) out += (i ? ", " : "") + text::quote(l[i]);
      return out + "]";
    }
    std::string operator()(const std::vector<Table>& ts) const {
      std::string out = "[";
      for (std::size_t i = 0; i < ts.size(); ++i) {
        out += i ? ", {" : "{";
        bool first = true;
        for (const auto& [k, val] : ts[i]) {
          out += (first ? " " : ", ") + k + " = " + text::quote(val);
          first = false;
        }
        out += " }";
      }
      return out + "]";
    }
  };
  return std::visit(V{}, v);
}
}  // namespace

std::string Config::dump(bool only_changed, Secrets secrets) const {
  std::string out = "# backstop configuration (" + source_ + ")\n";
  for (const auto& k : keys()) {
    if (only_changed && !is_set(k.name)) continue;
    auto it = values_.find(k.name);
    if (it == values_.end()) continue;
    if (k.secret && secrets == Secrets::kHidden && is_set(k.name)) {
      out += "# " + std::string(k.name) + " is set (not shown)\n";
      continue;
    }
    out += std::string(k.name) + " = " + value_toml(it->second) + "\n";
  }
  return out;
}

std::string markdown_reference() {
  std::string out;
  std::string section;
  for (const auto& k : keys()) {
    std::string sec(k.name.substr(0, k.name.find('.')));
    if (sec != section) {
      section = sec;
      out += "\n### `" + section + "`\n\n";
    }
    out += "- **`" + std::string(k.name) + "`** (" + type_name(k.type) + ", default `" +
           std::string(k.default_toml) + "`)";
    if (!k.allowed.empty()) out += ", one of `" + std::string(k.allowed) + "`";
    if (k.type == Type::kInt && (k.min != 0 || k.max != INT64_MAX)) {
      out += ", " + std::to_string(k.min) + " to " + std::to_string(k.max);
    }
    out += k.doc.empty() ? ".\n" : ": " + std::string(k.doc) + "\n";
  }
  return out;
}

Status check_syntax(Syntax syntax, std::string_view value) {
  switch (syntax) {
    case Syntax::kAny:
      return {};
    case Syntax::kFileMode: {
      const bool digits = !value.empty() && value.size() <= 4 &&
                          value.find_first_not_of("01234567") == std::string_view::npos;
      if (!digits || std::stoul(std::string(value), nullptr, 8) > 0777)
        return fail(Code::kInvalidArgument, "'" + std::string(value) + "' is not an octal file mode (0000 to 0777)");
      return {};
    }
    case Syntax::kListen:
      if (value.empty()) return {};
      if (auto l = net::parse_listen(value); !l) return unexpected<Error>(l.error());
      return {};
    case Syntax::kHostPort:
      if (value.empty()) return {};
      if (auto hp = net::split_host_port(value); !hp) return unexpected<Error>(hp.error());
      return {};
    case Syntax::kNetwork:
      if (auto n = ip::parse_network(value); !n) return unexpected<Error>(n.error());
      return {};
    case Syntax::kRunAs:
      if (value.empty()) return {};
      if (auto r = parse_run_as(value); !r) return unexpected<Error>(r.error());
      return {};
    case Syntax::kServerAddress:
      if (value.starts_with('/')) return {};
      [[fallthrough]];
    case Syntax::kPeerAddress:
      if (auto hp = net::split_host_port(value); !hp) return unexpected<Error>(hp.error());
      return {};
    case Syntax::kKeyPrefix: {
      const bool printable = std::all_of(value.begin(), value.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; });
      if (value.empty() || value.size() > store::kMaxRedisPrefixBytes || !printable) {
        return fail(Code::kInvalidArgument, "a key prefix is 1 to " + std::to_string(store::kMaxRedisPrefixBytes) +
                                                " printable ASCII characters without spaces");
      }
      return {};
    }
  }
  return {};
}

Result<RunAs> parse_run_as(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(Code::kInvalidArgument, "'" + text::log_safe(text.substr(0, 64)) + "' is not USER or USER:GROUP (" +
                                            std::string(why) + ")");
  };
  auto valid_name = [](std::string_view n) {
    if (n.empty() || n.size() > kMaxAccountName) return false;
    for (char c : n)
      if (c <= ' ' || c > '~' || c == ':') return false;
    return true;
  };
  const auto colon = text.find(':');
  RunAs r;
  r.user = std::string(text.substr(0, colon));
  if (colon != std::string_view::npos) {
    r.group = std::string(text.substr(colon + 1));
    if (!valid_name(r.group)) return bad("a group name is printable, without spaces or ':'");
  }
  if (!valid_name(r.user)) return bad("a user name is printable, without spaces or ':'");
  return r;
}

}  // namespace backstop::config
