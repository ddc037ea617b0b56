// The Asio driver of `backstop audit smtp`: connects to one host, runs the
// ProbeDialogue (smtp.h) with a timeout on every step, and with --capture
// runs a throwaway SMTP receiver that waits, bounded, for the bounce of the
// probe message. Also the MX lookup of --mx, through the DNSBL resolver.
// Each function runs its own event loop and returns when done.
// Thread-safety: call from one thread; no shared state.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/smtp.h"
#include "common/random.h"
#include "common/result.h"

namespace backstop::audit {

// The fixed identity of the probe (docs/audit.md): what a postmaster sees
// in the logs. The HELO name defaults to this host's name; the sender
// defaults to kProbeSenderLocal@ that name.
inline constexpr const char* kProbeSenderLocal = "backstop-audit";
// The nonexistent recipient is kProbeRecipientPrefix + 16 random hex digits.
inline constexpr const char* kProbeRecipientPrefix = "backstop-probe-";
// Per step (resolve, connect, each reply, each write) unless --timeout says otherwise.
inline constexpr std::chrono::seconds kDefaultStepTimeout{30};
// How long --capture waits for the bounce unless --capture-wait says otherwise.
inline constexpr std::chrono::seconds kDefaultCaptureWait{120};
// Connections the capture receiver serves at once; more are closed at once.
inline constexpr std::size_t kMaxCaptureConnections = 8;
// MX hosts probed for --mx (in preference order).
inline constexpr std::size_t kMaxMxHosts = 5;

struct ProbeOptions {
  std::string host;  // name or IP literal
  std::uint16_t port = 25;
  ProbePlan plan;
  std::chrono::milliseconds step_timeout = kDefaultStepTimeout;
  // --capture: the receiver's address (IP literal) and port; empty: none.
  std::string capture_address;
  std::uint16_t capture_port = 0;
  std::chrono::milliseconds capture_wait = kDefaultCaptureWait;
};

struct ProbeRun {
  std::string connected_to;  // "127.0.0.1:25"
  ProbeOutcome outcome;
  std::optional<CaptureResult> capture;  // set when capture was asked for
  std::string error;  // the probe could not run (no address, connection refused, receiver not bound)
};

ProbeRun run_probe(const ProbeOptions& o);

// "backstop-probe-" and 16 random hex digits. kUnavailable when `r` fails.
Result<std::string> random_local_part(Random& r);

// The probe message (--capture): headers and a body that say what it is,
// carrying the random local part as its token. `date` is an RFC 5322 date.
std::string probe_message(const ProbePlan& plan, std::string_view date);

struct MxHost {
  std::uint16_t preference = 0;
  std::string name;
  std::vector<std::string> addresses;  // IPv4, as text
};

struct MxOptions {
  std::string dns_server;  // IP literal; empty: the system resolver
  std::uint16_t dns_port = 53;
  std::chrono::milliseconds timeout{5000};
};

// The MX hosts of `domain`, lowest preference first, at most kMaxMxHosts,
// each with its IPv4 addresses; the domain itself (implicit MX, RFC 5321
// §5.1) when it has no MX record. kNotFound (NXDOMAIN, a null MX, no
// address), kUnavailable (timeout, SERVFAIL), kMalformed.
Result<std::vector<MxHost>> resolve_mx(const std::string& domain, const MxOptions& o);

}  // namespace backstop::audit
