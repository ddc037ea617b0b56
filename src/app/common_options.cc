#include "app/common_options.h"

#include <cstdio>
#include <filesystem>

namespace backstop::app {

Result<config::Config> load_config(const std::string& file, const std::string& state_dir) {
  std::string path = file;
  std::error_code ec;
  if (path.empty() && std::filesystem::exists(kDefaultConfigFile, ec)) path = kDefaultConfigFile;
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
