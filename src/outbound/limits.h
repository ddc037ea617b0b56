// Outbound limits: messages, recipients and distinct envelope senders per
// SASL user, client address or sender domain, over sliding windows, with
// per-identity overrides and exemptions. The counts live in the store
// (records, updated atomically), so every thread and process of a host — and
// later a cluster — counts against the same limit.
//
// Predictability: a refused event is not counted, and the check-and-add is one
// store transaction, so a limit of N lets exactly N events through in a fresh
// window whatever the concurrency, and never more than N in any interval of
// the window's length (counting.h).
//
// Errors: the store's errors are returned (kUnavailable): the caller answers
// 4xx or fails open, never 5xx. Thread-safety: a Limiter is immutable and its
// methods may be called concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/ip.h"
#include "common/result.h"
#include "outbound/counting.h"
#include "store/store.h"

namespace backstop::outbound {

enum class Scope { kSaslUser, kClientIp, kSenderDomain };
enum class Measure { kMessages, kRecipients, kSenders };
// What a tripped limit does: 451 4.7.1 (default), hold in the MTA's queue,
// 550 5.7.1, or only log, count and notify.
enum class Action { kTempfail, kHold, kReject, kAlert };

std::string_view scope_name(Scope s);
std::string_view measure_name(Measure m);
std::string_view action_name(Action a);

// IPv6 clients are counted per /64 (one customer's prefix), IPv4 per address.
inline constexpr int kIpv6Prefix = 64;
// Identities longer than this are replaced by their hash in store keys.
inline constexpr std::size_t kMaxIdentityInKey = 200;

struct Rule {
  std::string name;                // unique; in logs, metrics and store keys
  Scope scope = Scope::kSaslUser;
  std::vector<std::string> match;  // identities (lower-case); empty: every identity
                                   // of the scope that no rule matches by name
  std::vector<Window> messages;
  std::vector<Window> recipients;
  std::vector<Window> senders;     // distinct envelope senders
  Action action = Action::kTempfail;
};

// A [[limits.rule]] table: name, scope, match, messages, recipients, senders,
// action (strings; lists comma-separated). kInvalidArgument naming the key.
Result<Rule> parse_rule(const std::map<std::string, std::string>& table, std::size_t index);

struct Settings {
  std::vector<Rule> rules;
  // Never limited: SASL users ("alice"), sender addresses ("news@example.org"),
  // sender domains ("@lists.example.org"), client networks ("192.0.2.0/24").
  std::vector<std::string> exempt;
};

// Who is sending. Empty fields are unknown (a null sender has no domain).
struct Client {
  std::string sasl_user;
  std::string ip;
  std::string sender;  // envelope sender, without <>
};

struct Trip {
  std::string rule;
  Scope scope = Scope::kSaslUser;
  std::string identity;
  Measure measure = Measure::kMessages;
  Window window;
  std::int64_t count = 0;  // the count the event would have made
  Action action = Action::kAlert;
  bool first = false;      // first trip of (rule, identity, window) in that window: notify
};

struct Verdict {
  bool refused = false;            // a rule with action != alert tripped
  Action action = Action::kAlert;  // the strongest action among the trips
  std::vector<Trip> trips;         // every window exceeded
  // "too many messages from sasl_user alice (limit 100/1h)" for the reply.
  std::string reason() const;
};

class Limiter {
 public:
  // `store` and `clock` are not owned and must outlive the Limiter.
  // kInvalidArgument for duplicate rule names or a bad exemption.
  static Result<Limiter> create(Settings settings, store::Store* store, const Clock* clock);

  bool enabled() const { return !settings_.rules.empty(); }
  bool exempt(const Client& c) const;
  // A new message (MAIL FROM): its messages windows and its sender in the
  // distinct-sender windows. Refused: nothing is counted.
  Result<Verdict> message(const Client& c) const;
  // `n` recipients of the current message (RCPT TO).
  Result<Verdict> recipients(const Client& c, std::int64_t n = 1) const;

 private:
  Limiter() = default;
  Result<Verdict> count(const Client& c, bool message, std::int64_t rcpts) const;

  Settings settings_;
  std::vector<ip::Network> exempt_networks_;
  store::Store* store_ = nullptr;
  const Clock* clock_ = nullptr;
};

// The identity of `c` in `scope` ("" when unknown): lower-cased SASL user,
// canonical client address (IPv6 cut to kIpv6Prefix), lower-cased sender domain.
std::string identity_of(const Client& c, Scope scope);

}  // namespace backstop::outbound
