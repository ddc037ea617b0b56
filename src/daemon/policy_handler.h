// backstop's Postfix policy delegation handler: the RCPT-stage checks (BATV
// for null-sender mail to our domains, then the DNSBL) for sites that use
// `check_policy_service`, and for Exim through ${readsocket}.
// Answers are access(5) actions: "DUNNO", "550 5.7.1 ...", "554 5.7.1 ...".
// Thread-safety: check() may be called from any server thread.
#pragma once

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
  Engine* engine_;
  DecisionLog log_;
  DnsblService* dnsbl_;
};

}  // namespace backstop::daemon
