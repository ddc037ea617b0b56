// Helpers shared by subcommands: configuration loading and error reporting.
#pragma once

#include <string>

#include "common/result.h"
#include "config/config.h"

namespace backstop::app {

// Default configuration file, read when it exists and no --config is given.
inline constexpr const char* kDefaultConfigFile = "/etc/backstop/backstop.toml";

// --config FILE if given; else /etc/backstop/backstop.toml if it exists; else
// the embedded defaults. `state_dir`, when not empty, overrides state.dir.
Result<config::Config> load_config(const std::string& file, const std::string& state_dir = {});

// True if the configured state directory exists.
bool state_exists(const config::Config& cfg);

// Prints "backstop: <message>" on stderr; returns the exit status for it
// (2: usage or environment).
int report_error(const Error& e);

}  // namespace backstop::app
