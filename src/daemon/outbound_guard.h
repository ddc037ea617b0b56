// Outbound protection as the milter and the policy service apply it: the
// limits at MAIL/RCPT, the autoreply gate at end of message, and the inbound
// facts the gate needs. Each call logs one line per trip or refusal, counts
// it in the metrics, and answers what the MTA should do. A store failure is
// an internal failure: 451 4.3.0, or continue when milter.on_error = accept —
// never 5xx. Thread-safety: the functions may be called from any thread;
// the ones that touch the store (limits, gate_decide) run on
// Engine::worker() in the milter and the policy service.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "daemon/engine.h"
#include "mail/header.h"
#include "outbound/gate.h"
#include "outbound/limits.h"

namespace backstop::daemon {

using DecisionLog = std::function<void(std::string_view line)>;

struct GuardAnswer {
  enum class Kind { kContinue, kTempfail, kReject, kHold, kDiscard };
  Kind kind = Kind::kContinue;
  std::string status;  // enhanced status code, e.g. "4.7.1"
  std::string text;    // reply text
};

// A new outbound message (MAIL FROM, or the first RCPT of a policy instance).
GuardAnswer limit_message(Engine& engine, const Snapshot& snap, const outbound::Client& client,
                          const DecisionLog& log, std::string_view log_prefix);
// `n` recipients of the current outbound message.
GuardAnswer limit_recipients(Engine& engine, const Snapshot& snap, const outbound::Client& client,
                             std::int64_t n, const DecisionLog& log, std::string_view log_prefix);

// What the autoreply gate needs to decide on one automated outbound message,
// found without the store.
struct GateCase {
  outbound::AutoKind kind = outbound::AutoKind::kNone;
  std::string user;                // the answering user (lower-case)
  std::string from_domain;         // of the From address, or empty
  std::vector<std::string> ids;    // Message-IDs the message refers to
};

// The gate's first half, pure CPU (parse and classify; no store): nullopt
// when the gate is off or the message is not an automated response, which
// then passes. `headers` and `body` as received (mail::parse_message).
std::optional<GateCase> gate_classify(const Snapshot& snap, std::span<const mail::FieldView> headers,
                                      std::string_view body, const outbound::Client& client,
                                      std::span<const std::string> rcpts);
// The gate's second half: reads the inbound facts and correspondents and
// counts the once-per-period replies in the store, so it runs on
// Engine::worker(), never on an event loop.
GuardAnswer gate_decide(Engine& engine, const Snapshot& snap, const GateCase& gc, const outbound::Client& client,
                        std::span<const std::string> rcpts, const DecisionLog& log, std::string_view log_prefix);
// Both halves in one call (tests, tools).
GuardAnswer gate_message(Engine& engine, const Snapshot& snap, std::span<const mail::FieldView> headers,
                         std::string_view body, const outbound::Client& client,
                         std::span<const std::string> rcpts, const DecisionLog& log,
                         std::string_view log_prefix);

// Records the gate's facts about an inbound message (by Message-ID), through
// the batch writer. `judged_backscatter`: the judge found an automated
// response; `dnsbl`: the client was found on a DNSBL.
void remember_inbound(Engine& engine, const Snapshot& snap, const mail::HeaderList& headers, std::string_view sender,
                      std::span<const std::string> rcpts, bool judged_backscatter, bool dnsbl);

}  // namespace backstop::daemon
