// backstop serve: the milter and the Postfix policy service. The lifecycle
// (signals, reload, purge, shutdown order) is daemon::serve (daemon/serve.h).
#include <memory>

#include "app/commands.h"
#include "app/common_options.h"
#include "common/text.h"
#include "daemon/serve.h"

namespace backstop::app {

void add_serve(CLI::App& root, int* exit_code) {
  auto o = std::make_shared<SharedOptions>();
  auto run_as = std::make_shared<std::string>();
  auto* cmd = root.add_subcommand("serve", "Run the milter and policy service (the main job)");
  cmd->add_option("--run-as", *run_as, "User to serve as once the listeners are bound; overrides daemon.run_as")
      ->type_name("USER[:GROUP]");
  add_shared_options(cmd, o.get());
  cmd->callback([o, run_as, exit_code] {
    // Called at start and on every SIGHUP: --run-as applies to each load.
    auto load = [o, run_as]() -> Result<config::Config> {
      auto cfg = load_config(*o);
      if (!cfg || run_as->empty()) return cfg;
      if (auto st = cfg->override("daemon.run_as", text::quote(*run_as)); !st)
        return fail(st.error().code(), "--run-as: " + st.error().message());
      return cfg;
    };
    auto rc = daemon::serve({.load_config = load});
    *exit_code = rc ? *rc : report_error(rc.error());
  });
}

}  // namespace backstop::app
