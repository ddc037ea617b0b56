// The TOML configuration on arbitrary text: a parse never crashes and never
// throws; what parses dumps to text that parses again to the same dump (so
// `config dump` output is always a valid configuration file).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using backstop::config::Config;
  if (size > 64 * 1024) return 0;  // configuration files are small
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = Config::parse(text);
  if (!c) return 0;
  const std::string dumped = c->dump(false, Config::Secrets::kShown);
  auto again = Config::parse(dumped);
  if (!again || again->dump(false, Config::Secrets::kShown) != dumped) std::abort();
  return 0;
}
