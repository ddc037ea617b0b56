// Configuration: one declarative table of keys (name, type, default, doc),
// read from TOML. Every key has a default, so `backstop serve` runs with no
// file; unknown keys, wrong types and bad values are errors with the key
// named. `config dump --defaults` and docs/configuration.md come from the
// same table (kKeys), like OpenDKIM's config table and `postconf -d`.
// Thread-safety: a Config is an immutable value once loaded; reloads build a
// new one and swap a shared_ptr.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace backstop::config {

enum class Type { kBool, kInt, kString, kStringList, kTableList };

// One entry of an array of tables (e.g. [[dnsbl.zone]]): sub-key -> value
// as text (strings as-is, numbers and booleans formatted, lists joined by ',').
using Table = std::map<std::string, std::string>;
using Value = std::variant<bool, std::int64_t, std::string, std::vector<std::string>, std::vector<Table>>;

// Syntax a string (or each string of a list) must have, beyond its type.
enum class Syntax {
  kAny,
  kFileMode,  // octal file mode, "0660": digits 0-7 only, at most 0777
  kListen,    // "" or a listener: inet:HOST:PORT / unix:PATH (net/listen.h)
  kHostPort,  // "" or HOST:PORT / [V6]:PORT
  kNetwork,   // an IP network or address (common/ip.h)
  kRunAs,     // "" or USER or USER:GROUP (parse_run_as)
  kServerAddress,  // HOST:PORT / [V6]:PORT (an IP address or localhost) or an absolute unix socket path
  kPeerAddress,    // HOST:PORT / [V6]:PORT, never empty
  kKeyPrefix,      // a Redis key prefix: 1 to store::kMaxRedisPrefixBytes printable ASCII bytes, no spaces
};

// A key of the table.
struct KeyDef {
  std::string_view name;          // dotted, e.g. "milter.listen"
  Type type;
  std::string_view default_toml;  // the default as a TOML value literal
  std::string_view doc;           // one paragraph for docs/configuration.md
  std::string_view allowed = {};  // for strings: "a|b|c" enumerates legal values
  std::int64_t min = 0;           // for ints: inclusive range
  std::int64_t max = INT64_MAX;
  std::string_view table_keys = {};  // for table lists: "zone|action|codes|..." legal sub-keys
  Syntax syntax = Syntax::kAny;      // for strings and string lists
  bool secret = false;               // a credential: `config dump` does not print it
};

// An account as daemon.run_as names it: "USER" or "USER:GROUP".
struct RunAs {
  std::string user;
  std::string group;  // empty: the user's primary group
};

// Splits daemon.run_as. Each name is 1 to kMaxAccountName printable ASCII
// characters other than ':' and spaces; kInvalidArgument otherwise (also for
// ""). Pure: whether the names exist is for the account database to say.
inline constexpr std::size_t kMaxAccountName = 256;
Result<RunAs> parse_run_as(std::string_view text);

// Whether `value` has `syntax`; kInvalidArgument explaining why not.
Status check_syntax(Syntax syntax, std::string_view value);

std::span<const KeyDef> keys();
const KeyDef* find_key(std::string_view name);
// True if `name` is a section of the key table ("redis", "dnsbl.web"): some
// key's name starts with it and a dot.
bool is_section(std::string_view name);

class Config {
 public:
  // The embedded defaults.
  static Config defaults();
  // Parses TOML text. kInvalidArgument naming the key (or line) on error.
  static Result<Config> parse(std::string_view toml_text, std::string_view source_name = "config");
  // Reads and parses a file. kNotFound / kEnvironment when unreadable.
  static Result<Config> load_file(const std::string& path);

  // Typed accessors. REQUIRES: `key` is in the table with that type
  // (a mismatch is a broken invariant: it aborts).
  bool get_bool(std::string_view key) const;
  std::int64_t get_int(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  const std::vector<std::string>& get_list(std::string_view key) const;
  const std::vector<Table>& get_tables(std::string_view key) const;

  // True when the value differs from the default (set in the file).
  bool is_set(std::string_view key) const;
  // Where the configuration came from ("defaults" or the file name).
  const std::string& source() const noexcept { return source_; }

  // Sets one key from a TOML value literal (e.g. a command-line override:
  // override("state.dir", "\"/tmp/x\"")). Same checks as a file.
  Status override(std::string_view key, std::string_view toml_value);

  // How dump() writes a secret key (redis.password) that is set.
  enum class Secrets {
    kHidden,  // a comment line saying it is set: `config dump` output may be pasted anywhere
    kShown,   // the value: for comparing two configurations, never for printing
  };
  // TOML text of every key (only_changed: keys set in the file). With
  // Secrets::kHidden the text is still valid TOML, but a secret set in the file
  // reads back as its default.
  std::string dump(bool only_changed = false, Secrets secrets = Secrets::kHidden) const;

 private:
  std::map<std::string, Value, std::less<>> values_;
  std::map<std::string, bool, std::less<>> set_;
  std::string source_ = "defaults";
  friend class Parser;
};

// Markdown reference of every key, generated from the table.
std::string markdown_reference();

}  // namespace backstop::config
