// Errors as values. Every fallible function that crosses a component boundary
// returns Result<T>; exceptions never cross a component.
//
// Three severities, each with a defined action (see docs/architecture.md):
//  - bad peer data (Code::kMalformed, kTooLarge, kProtocol): return an error,
//    log a warning, answer the peer per protocol (4xx or the configured
//    fail-open, never 5xx for our own failure);
//  - bad environment at start (Code::kEnvironment, kNotFound, kPermission):
//    fatal at start-up with a clear message, exit status 2;
//  - broken invariant: BACKSTOP_INVARIANT aborts (a bug of ours, never data).
//
// Thread-safety: Error and Result are values; no shared state.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "common/expected.h"

namespace backstop {

enum class Code {
  kInvalidArgument,  // a caller or user gave a bad value (CLI flag, config key)
  kMalformed,        // untrusted bytes do not parse
  kTooLarge,         // untrusted input exceeds a named limit
  kProtocol,         // a peer broke the protocol (milter, policy, DNS)
  kNotFound,         // a thing looked up is absent
  kUnavailable,      // a dependency is down or timed out: retry later (4xx)
  kEnvironment,      // the environment is unusable (file mode, missing dir)
  kPermission,       // refused for safety (e.g. a group-readable key file)
  kInternal,         // our own failure
};

std::string_view code_name(Code c) noexcept;

// An error: a canonical code plus a human-readable message for logs and CLI.
class [[nodiscard]] Error {
 public:
  Error(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  // "<code>: <message>"
  std::string to_string() const;

 private:
  Code code_;
  std::string message_;
};

template <class T>
using Result = expected<T, Error>;
using Status = expected<void, Error>;

// Builds the error alternative of a Result: `return fail(Code::kMalformed, "...")`.
inline unexpected<Error> fail(Code code, std::string message) {
  return unexpected<Error>(Error(code, std::move(message)));
}

// Propagates an error from an expression of type Result<T>/Status.
#define BACKSTOP_TRY(expr)                                                   \
  do {                                                                       \
    auto&& backstop_try_r_ = (expr);                                         \
    if (!backstop_try_r_) return ::backstop::unexpected<::backstop::Error>(  \
        std::move(backstop_try_r_).error());                                 \
  } while (0)

[[noreturn]] void invariant_failed(const char* expr, const char* file, int line) noexcept;

// A broken internal invariant: a bug of ours. Aborts with the location.
#define BACKSTOP_INVARIANT(cond) \
  ((cond) ? (void)0 : ::backstop::invariant_failed(#cond, __FILE__, __LINE__))

}  // namespace backstop
