#include "app/commands.h"

namespace backstop::app {

const Command kCommands[] = {
    {"version", add_version},
    {"config", add_config},
};
const std::size_t kCommandCount = sizeof(kCommands) / sizeof(kCommands[0]);

}  // namespace backstop::app
