// Postfix configuration as `backstop audit postfix` reads it: main.cf (or
// `postconf -n` output, the same syntax), master.cf with its `-o`
// overrides, `$name` expansion with Postfix's defaults for the parameters
// the rules read, and the lint rules themselves. Parsing is pure; the map
// files the rules read (virtual_alias_maps sources) come through a reader
// the caller supplies.
// Thread-safety: values and pure functions.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/finding.h"
#include "common/result.h"

namespace backstop::audit {

// A main.cf or master.cf larger than this is not a configuration (Debian's
// commented master.cf is 7 KiB; a big main.cf a few dozen KiB).
inline constexpr std::size_t kMaxPostfixConfigBytes = 1 << 20;
// Parameters per main.cf (postconf -d lists about 1,000).
inline constexpr std::size_t kMaxParameters = 4096;
// master.cf services (a busy host has a few dozen).
inline constexpr std::size_t kMaxServices = 1024;
// `$name` expansions per value, nested: Postfix itself stops at 100.
inline constexpr std::size_t kMaxExpansionDepth = 100;
// Bytes an expansion may produce; a self-growing definition stops here.
inline constexpr std::size_t kMaxExpandedBytes = 64 * 1024;
// A map source file (virtual alias table) the rules read; larger ones are
// skipped with a note.
inline constexpr std::size_t kMaxMapFileBytes = 16 << 20;
// Findings of one rule over one map file (a table full of catch-alls).
inline constexpr std::size_t kMaxFindingsPerMap = 20;

struct Param {
  std::string value;      // as written, unexpanded, continuation lines joined by one space
  std::size_t line = 0;   // 1-based line in the source; 0 for postconf -n given as a stream without lines
};

struct MainConfig {
  std::map<std::string, Param> params;
  std::string source = "main.cf";  // "main.cf" or "postconf -n", for `where`
};

// Parses main.cf syntax (also `postconf -n` output): `name = value`, lines
// starting with whitespace continue the previous one, `#` lines and blank
// lines are comments; a later setting wins. kTooLarge beyond the limits,
// kMalformed for a line that is not a setting.
Result<MainConfig> parse_main_cf(std::string_view text, std::string source = "main.cf");

struct MasterService {
  std::string name;     // "smtp", "127.0.0.1:10025", "submission"
  std::string type;     // inet, unix, unix-dgram, fifo, pass
  std::string command;  // smtpd, smtp, pipe, ...
  std::size_t line = 0;
  std::vector<std::pair<std::string, std::string>> overrides;  // -o name=value, in order
  // An inet smtpd that may take mail from the Internet: on every address or
  // a non-loopback one, or on loopback unless it is a content filter's
  // reinjection service (`-o content_filter=` empty, or client restrictions
  // `permit_mynetworks, reject`).
  bool public_smtpd() const;
  // Its overrides let only authenticated clients in (a submission port:
  // permit_sasl_authenticated then reject in a restriction list).
  bool authenticated_only() const;
  // The value of a -o override, the last one wins.
  std::optional<std::string> override_of(std::string_view name) const;
};

// Parses master.cf: one service per logical line (continuations start with
// whitespace), eight fields then the command's arguments, `-o name=value`
// and `-o { name = value }` overrides. kTooLarge / kMalformed.
Result<std::vector<MasterService>> parse_master_cf(std::string_view text);

// Postfix's default of the parameters the rules read (postconf -d on 3.7);
// nullopt for others.
std::optional<std::string> postfix_default(std::string_view name);

// `value` with $name, ${name}, $(name), ${name?text}, ${name:text} and
// ${name?{text}:{text}} expanded from `cfg` (then `overrides`, then
// postfix_default); unknown names expand to "". Bounded by
// kMaxExpansionDepth and kMaxExpandedBytes.
std::string expand(const MainConfig& cfg, std::string_view value,
                   const std::vector<std::pair<std::string, std::string>>* overrides = nullptr);
// The raw value of a parameter: the override, else main.cf, else the default.
std::string raw_value(const MainConfig& cfg, std::string_view name,
                      const std::vector<std::pair<std::string, std::string>>* overrides = nullptr);
// Splits a Postfix list (whitespace and commas), keeping { ... } groups whole.
std::vector<std::string> split_list(std::string_view value);

// Reads a map's source file for the rules; errors become notes.
using FileReader = std::function<Result<std::string>(const std::string& path)>;

struct PostfixInput {
  MainConfig main;
  std::vector<MasterService> master;
  bool have_master = false;         // master.cf was read (else: one plain smtpd on port 25)
  std::string config_dir;           // for the fix lines (`postconf -c DIR`); empty: the default
  FileReader read_file;             // may be empty: map files are then not read
};

// Every rule over a parsed configuration: the findings, and notes for what
// is worth knowing but not a finding (an after-queue filter whose
// destinies were not given, a map that could not be read).
Section lint_postfix(const PostfixInput& in, std::string target);

// The after-queue content filter of the public smtpd services (main.cf's
// content_filter or an -o override), empty when there is none.
std::string after_queue_filter(const PostfixInput& in);

}  // namespace backstop::audit
