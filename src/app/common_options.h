// Helpers shared by subcommands: the shared command-line options,
// configuration loading and error reporting.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "common/result.h"
#include "config/config.h"

namespace backstop::app {

// Default configuration file, read when it exists and no --config is given.
inline constexpr const char* kDefaultConfigFile = "/etc/backstop/backstop.toml";

// The options a command shares with all its subcommands: -c,--config FILE and
// --state DIR. Registered by add_shared_options, each is accepted before the
// command name (`backstop --state D ledger add ID`), between the command and
// its subcommand (`backstop ledger --state D add ID`) and after the
// subcommand (`backstop ledger add --state D ID`). When given in several of
// these positions, the later (more specific) one wins.
struct SharedOptions {
  std::string config;  // empty: load_config's default
  std::string state;   // empty: the configuration's state.dir
};

// Help texts of the shared options; a null text leaves that option out.
struct SharedOptionHelp {
  const char* config =
      "Configuration file (default: /etc/backstop/backstop.toml if present, else the embedded defaults)";
  const char* state = "State directory; overrides state.dir";
};

// Registers -c,--config and --state on `root`, for any command that takes
// them (see add_shared_options). Given before a command that does not take
// them, they are a usage error. Call once, on the root.
void add_top_level_options(CLI::App& root);

// Registers the shared options named in `help` on `cmd` and on every
// subcommand below it that exists at the time of the call (add subcommands
// that ignore them afterwards), all storing into `*o`; `cmd` also takes the
// ones given on the root before its name. `cmd` is a direct subcommand of
// the root; `*o` outlives the parse and the run.
void add_shared_options(CLI::App* cmd, SharedOptions* o, SharedOptionHelp help = {});

// --config FILE if given; else /etc/backstop/backstop.toml if it exists (or
// if whether it exists cannot be told: reading it then says why); else
// the embedded defaults. `state_dir`, when not empty, overrides state.dir.
Result<config::Config> load_config(const std::string& file, const std::string& state_dir = {});
inline Result<config::Config> load_config(const SharedOptions& o) { return load_config(o.config, o.state); }

// True if the configured state directory exists.
bool state_exists(const config::Config& cfg);

// Prints "backstop: <message>" on stderr; returns the exit status for it
// (2: usage or environment).
int report_error(const Error& e);

}  // namespace backstop::app
