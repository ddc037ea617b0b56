// The production Resolver: c-ares driven by an Asio event loop. c-ares owns
// its sockets; we watch each with asio::posix::stream_descriptor (released,
// never closed, by us) and call ares_process_fd on readiness, and run one
// steady_timer for ares_timeout(). No thread, no blocking call.
#pragma once

#include <asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "dnsbl/resolver.h"

namespace backstop::dnsbl {

// How long one DNSBL query may take before it counts as a timeout (no
// rejection). Postfix's smtpd waits for DNS in the same order of magnitude.
inline constexpr std::chrono::milliseconds kDefaultQueryTimeout{2000};

struct CaresOptions {
  // Resolver to ask: an IPv4/IPv6 literal. Empty: the system's resolv.conf.
  std::string server;
  std::uint16_t port = 53;
  // Per query, all tries together.
  std::chrono::milliseconds timeout = kDefaultQueryTimeout;
  // Tries per query (each gets timeout / tries).
  int tries = 1;
  // On a truncated UDP answer, retry over TCP (c-ares' default). Off: the
  // truncated answer is handed over and the client reports kTruncated.
  bool tcp_on_truncation = true;
};

// kInvalidArgument for a bad server address; kEnvironment if c-ares cannot
// initialise.
Result<std::unique_ptr<Resolver>> make_cares_resolver(asio::any_io_executor executor,
                                                      const CaresOptions& options);

}  // namespace backstop::dnsbl
