// backstop's Postfix policy delegation handler: the RCPT-stage checks (BATV
// for null-sender mail to our domains, then the DNSBL) for sites that use
// `check_policy_service`, and for Exim through ${readsocket}.
// Outbound mail (SASL-authenticated, or from outbound.networks) gets the
// outbound limits instead: the first RCPT of a message (Postfix's `instance`
// attribute) counts the message and its sender, every RCPT counts one
// recipient. The autoreply gate needs the message content: milter only.
// Answers are access(5) actions: "DUNNO", "550 5.7.1 ...", "451 4.7.1 ...", "HOLD ...".
// A request whose check throws (a bug, an allocation failure) is answered
// like an internal failure: "451 4.3.0 ...", or "DUNNO" under
// milter.on_error = "accept"; counted (backstop_errors_total{where="internal"})
// and logged; the connection and later requests are served as usual.
// Thread-safety: check() may be called from any server thread.
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_set>

#include "daemon/dnsbl_service.h"
#include "daemon/engine.h"
#include "daemon/milter_filter.h"
#include "policyd/server.h"

namespace backstop::daemon {

class PolicyHandler final : public policyd::Handler {
 public:
  // Not owned; `dnsbl` may be null.
  PolicyHandler(Engine* engine, DecisionLog log, DnsblService* dnsbl = nullptr);
  void check(const policyd::Request& request, policyd::Reply reply) override;

 private:
  // The check itself; calls `answer` once (possibly later, from the DNSBL
  // lookup's thread).
  void decide(const policyd::Request& request, const std::function<void(std::string)>& answer);
  // True the first time `instance` is seen (bounded memory, oldest forgotten).
  bool first_of_instance(const std::string& instance);

  Engine* engine_;
  DecisionLog log_;
  DnsblService* dnsbl_;
  std::mutex mu_;
  std::unordered_set<std::string> instances_;
  std::deque<std::string> instance_order_;
};

// Message instances remembered by the policy handler: far more than the
// messages in flight at once (Postfix's default process limit is 100).
inline constexpr std::size_t kMaxPolicyInstances = 16384;

}  // namespace backstop::daemon
