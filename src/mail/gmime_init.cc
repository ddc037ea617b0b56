#include "mail/gmime_init.h"

#include <gmime/gmime.h>

#include <mutex>

namespace backstop::mail::detail {

void ensure_gmime() noexcept {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

}  // namespace backstop::mail::detail
