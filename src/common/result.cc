#include "common/result.h"

namespace backstop {

std::string_view code_name(Code c) noexcept {
  switch (c) {
    case Code::kInvalidArgument: return "invalid-argument";
    case Code::kMalformed: return "malformed";
    case Code::kTooLarge: return "too-large";
    case Code::kProtocol: return "protocol";
    case Code::kNotFound: return "not-found";
    case Code::kUnavailable: return "unavailable";
    case Code::kEnvironment: return "environment";
    case Code::kPermission: return "permission";
    case Code::kInternal: return "internal";
  }
  return "unknown";
}

std::string Error::to_string() const {
  std::string s(code_name(code_));
  s += ": ";
  s += message_;
  return s;
}

void invariant_failed(const char* expr, const char* file, int line) noexcept {
  std::fprintf(stderr, "backstop: broken invariant (%s) at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace backstop
