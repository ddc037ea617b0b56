// Internal: one-time, thread-safe GMime initialisation (not a public interface).
#pragma once

namespace backstop::mail::detail {

// Calls g_mime_init() exactly once per process (std::call_once). GMime is
// never shut down: its tables live for the whole process.
void ensure_gmime() noexcept;

}  // namespace backstop::mail::detail
