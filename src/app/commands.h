// The subcommand table of the backstop binary. Each subcommand lives in its
// own cmd_<name>.cc and registers itself in kCommands (commands.cc).
// A subcommand's run function returns the process exit status:
//   0 success, 1 a negative answer (e.g. "verify: not valid", findings),
//   2 bad usage or a bad environment (the message says which).
#pragma once

#include <CLI/CLI.hpp>

namespace backstop::app {

// Adds one subcommand to `root`. When it runs, it stores its exit status in
// `*exit_code`. `root` and `exit_code` outlive the parse and the run.
using RegisterFn = void (*)(CLI::App& root, int* exit_code);

struct Command {
  const char* name;
  RegisterFn add;
};

extern const Command kCommands[];
extern const std::size_t kCommandCount;

// Registration functions, one per cmd_*.cc.
void add_version(CLI::App& root, int* exit_code);
void add_config(CLI::App& root, int* exit_code);
void add_serve(CLI::App& root, int* exit_code);
void add_check(CLI::App& root, int* exit_code);
void add_classify(CLI::App& root, int* exit_code);
void add_scan(CLI::App& root, int* exit_code);
void add_dnsbl(CLI::App& root, int* exit_code);
void add_trap(CLI::App& root, int* exit_code);
void add_batv(CLI::App& root, int* exit_code);
void add_ledger(CLI::App& root, int* exit_code);
void add_store(CLI::App& root, int* exit_code);
void add_audit(CLI::App& root, int* exit_code);

}  // namespace backstop::app
