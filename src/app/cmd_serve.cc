// backstop serve: the milter and the Postfix policy service. The lifecycle
// (signals, reload, purge, shutdown order) is daemon::serve (daemon/serve.h).
#include <memory>

#include "app/commands.h"
#include "app/common_options.h"
#include "daemon/serve.h"

namespace backstop::app {

void add_serve(CLI::App& root, int* exit_code) {
  auto o = std::make_shared<SharedOptions>();
  auto* cmd = root.add_subcommand("serve", "Run the milter and policy service (the main job)");
  add_shared_options(cmd, o.get());
  cmd->callback([o, exit_code] {
    auto rc = daemon::serve({.load_config = [o] { return load_config(*o); }});
    *exit_code = rc ? *rc : report_error(rc.error());
  });
}

}  // namespace backstop::app
