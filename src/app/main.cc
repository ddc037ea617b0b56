// backstop: stops email backscatter. One binary, subcommands in commands.cc.
//
// SECURITY: `backstop serve` talks to untrusted SMTP clients through the MTA
// (milter, policy protocol); every byte from the network or a mailbox goes
// through the bounded parsers in src/mail and src/milter. It needs no
// privileges: run it as its own user, owning only its state directory
// (LMDB, BATV keys). Offline subcommands (scan, classify, check) read the
// files they are given and write only to stdout or the named output.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "app/commands.h"
#include "app/common_options.h"

int main(int argc, char** argv) {
  CLI::App root{"backstop: stops email backscatter (bounces, virus notices, "
                "challenges, confirmations and autoreplies to forged senders)",
                "backstop"};
  root.require_subcommand(1);
  root.set_help_all_flag("--help-all", "Help for every subcommand");
  backstop::app::add_top_level_options(root);
  int exit_code = 0;
  for (std::size_t i = 0; i < backstop::app::kCommandCount; ++i) {
    backstop::app::kCommands[i].add(root, &exit_code);
  }
  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = root.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    // Components return errors as values; an exception here is a bug. Say so
    // in one line and exit EX_SOFTWARE rather than abort with a core dump.
    std::fprintf(stderr, "backstop: internal error: %s\n", e.what());
    return 70;
  }
  return exit_code;
}
