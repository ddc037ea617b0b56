#include "app/commands.h"

namespace backstop::app {

const Command kCommands[] = {
    {"version", add_version},
    {"serve", add_serve},
    {"check", add_check},
    {"classify", add_classify},
    {"scan", add_scan},
    {"config", add_config},
    {"dnsbl", add_dnsbl},
    {"trap", add_trap},
    {"batv", add_batv},
    {"ledger", add_ledger},
    {"store", add_store},
    {"audit", add_audit},
};
const std::size_t kCommandCount = sizeof(kCommands) / sizeof(kCommands[0]);

}  // namespace backstop::app
