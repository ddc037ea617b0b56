// backstop config check|dump|doc
#include <chrono>
#include <cstdio>
#include <string>

#include "app/commands.h"
#include "app/common_options.h"
#include "classify/classifier.h"
#include "classify/rules.h"
#include "config/config.h"
#include "config/man_page.h"
#include "daemon/privileges.h"

namespace backstop::app {
namespace {

struct ConfigOptions {
  SharedOptions shared;  // --config only: the file checked or dumped
  bool defaults = false;
  bool changed = false;
  bool man = false;  // config doc --man
};

// Loads --config FILE, or the defaults when no file is given.
Result<config::Config> load(const std::string& file) {
  if (file.empty()) return config::Config::defaults();
  return config::Config::load_file(file);
}

}  // namespace

void add_config(CLI::App& root, int* exit_code) {
  auto opts = std::make_shared<ConfigOptions>();
  auto* cmd = root.add_subcommand("config", "Check, dump or document the configuration");
  cmd->require_subcommand(1);

  auto* check = cmd->add_subcommand("check", "Parse a configuration file and report the first error");
  check->callback([opts, exit_code] {
    auto cfg = load(opts->shared.config);
    if (!cfg) {
      std::fprintf(stderr, "backstop: %s\n", cfg.error().message().c_str());
      *exit_code = 2;
      return;
    }
    // daemon.run_as must name an account of this system (serve looks it up
    // at start, before it binds anything).
    if (auto account = daemon::run_as_account(*cfg); !account) {
      std::fprintf(stderr, "backstop: %s\n", account.error().message().c_str());
      *exit_code = 2;
      return;
    }
    // The rules file is compiled as serve would at start or on SIGHUP: an
    // error names its line, and the time tells how long a reload will take.
    const auto& rules_file = cfg->get_string("classify.rules_file");
    if (!rules_file.empty()) {
      const auto t0 = std::chrono::steady_clock::now();
      auto rules = classify::load_rules_file(rules_file);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!rules) {
        std::fprintf(stderr, "backstop: classify rules: %s\n", rules.error().message().c_str());
        *exit_code = 2;
        return;
      }
      std::printf("%s: %zu rules compiled in %.2f s\n", rules_file.c_str(), (*rules)->rules().size(), secs);
    }
    std::printf("%s: OK\n", cfg->source().c_str());
    *exit_code = 0;
  });

  auto* dump = cmd->add_subcommand("dump", "Print the effective configuration as TOML");
  dump->add_flag("--defaults", opts->defaults, "Print the embedded defaults");
  dump->add_flag("--changed", opts->changed, "Print only keys set in the file");
  dump->callback([opts, exit_code] {
    auto cfg = opts->defaults ? Result<config::Config>(config::Config::defaults()) : load(opts->shared.config);
    if (!cfg) {
      std::fprintf(stderr, "backstop: %s\n", cfg.error().message().c_str());
      *exit_code = 2;
      return;
    }
    std::fputs(cfg->dump(opts->changed).c_str(), stdout);
    *exit_code = 0;
  });
  add_shared_options(cmd, &opts->shared, {.config = "TOML file (default: the embedded defaults)", .state = nullptr});

  auto* doc = cmd->add_subcommand("doc", "Print the Markdown reference of every key (--man: the backstop.toml(5) page)");
  doc->add_flag("--man", opts->man, "Print the whole backstop.toml(5) man page (roff) instead");
  doc->callback([opts, exit_code] {
    std::fputs((opts->man ? config::man_page() : config::markdown_reference()).c_str(), stdout);
    *exit_code = 0;
  });
}

}  // namespace backstop::app
