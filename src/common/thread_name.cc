#include "common/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <cstring>

namespace backstop::common {

void set_thread_name(std::string_view name) noexcept {
  // The kernel's limit: TASK_COMM_LEN (16) including the terminating NUL.
  constexpr std::size_t kMaxThreadName = 15;
  char buf[kMaxThreadName + 1] = {};
  const std::size_t n = std::min(name.size(), kMaxThreadName);
  std::memcpy(buf, name.data(), n);
  (void)pthread_setname_np(pthread_self(), buf);
}

}  // namespace backstop::common
