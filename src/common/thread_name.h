// Names the calling thread as `top -H`, `ps -L` and /proc/PID/task/*/comm show
// it, so that an operator can tell the milter loops from the store writer.
// Linux keeps at most 15 bytes; a longer name is cut. Best effort: a failure
// changes nothing else.
#pragma once

#include <string_view>

namespace backstop::common {

void set_thread_name(std::string_view name) noexcept;

}  // namespace backstop::common
