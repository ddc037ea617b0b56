#include "app/common_options.h"

#include <cstdio>
#include <filesystem>

namespace backstop::app {
namespace {

constexpr const char* kConfigNames = "-c,--config";
constexpr const char* kConfig = "--config";
constexpr const char* kState = "--state";

void add_recursively(CLI::App* app, SharedOptions* o, const SharedOptionHelp& help) {
  if (help.config) app->add_option(kConfigNames, o->config, help.config)->type_name("FILE");
  if (help.state) app->add_option(kState, o->state, help.state)->type_name("DIR");
  for (CLI::App* sub : app->get_subcommands([](CLI::App* a) { return !a->get_name().empty(); })) {
    add_recursively(sub, o, help);
  }
}

// The value of `root`'s option `name` if it was given, into `*out`.
void take_from_root(const CLI::App& root, const char* name, std::string* out) {
  const CLI::Option* opt = root.get_option_no_throw(name);
  if (opt && opt->count() > 0) *out = opt->as<std::string>();
}

}  // namespace

void add_top_level_options(CLI::App& root) {
  // Values reach the command in add_shared_options' pre-parse callback.
  root.add_option_function<std::string>(kConfigNames, [](const std::string&) {},
                                         "Configuration file, for the commands that read one")
      ->type_name("FILE");
  root.add_option_function<std::string>(kState, [](const std::string&) {},
                                         "State directory, for the commands that use one")
      ->type_name("DIR");
  root.parse_complete_callback([r = &root] {
    for (const char* name : {kConfig, kState}) {
      const CLI::Option* opt = r->get_option_no_throw(name);
      if (!opt || opt->count() == 0) continue;
      for (const CLI::App* cmd : r->get_subcommands()) {
        if (!cmd->get_option_no_throw(name)) {
          throw CLI::ValidationError(name, "not an option of `backstop " + cmd->get_name() + "`");
        }
      }
    }
  });
}

void add_shared_options(CLI::App* cmd, SharedOptions* o, SharedOptionHelp help) {
  add_recursively(cmd, o, help);
  // Runs when `cmd` starts parsing: every root option before its name has
  // been read, and the later positions are stored over these values.
  cmd->preparse_callback([cmd, o, help](std::size_t) {
    const CLI::App* root = cmd->get_parent();
    if (!root) return;
    if (help.config) take_from_root(*root, kConfig, &o->config);
    if (help.state) take_from_root(*root, kState, &o->state);
  });
}

Result<config::Config> load_config(const std::string& file, const std::string& state_dir) {
  std::string path = file;
  std::error_code ec;
  // The default file is read when it exists, and also when whether it does
  // cannot be told (an unreadable /etc/backstop after serve dropped root):
  // then reading it reports why, instead of silently using the defaults.
  if (path.empty() && (std::filesystem::exists(kDefaultConfigFile, ec) || ec)) path = kDefaultConfigFile;
  auto cfg = path.empty() ? Result<config::Config>(config::Config::defaults())
                          : config::Config::load_file(path);
  if (!cfg || state_dir.empty()) return cfg;
  std::string quoted = "\"";
  for (char c : state_dir) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += '"';
  auto st = cfg->override("state.dir", quoted);
  if (!st) return unexpected<Error>(st.error());
  return cfg;
}

bool state_exists(const config::Config& cfg) {
  std::error_code ec;
  return std::filesystem::is_directory(cfg.get_string("state.dir"), ec);
}

int report_error(const Error& e) {
  std::fprintf(stderr, "backstop: %s\n", e.message().c_str());
  return 2;
}

}  // namespace backstop::app
