// backstop's milter::Filter: roles per message (outbound, trap, inbound),
// BATV at RCPT, the end-of-message judgement, outbound signing and the
// ledger. All state shared between connections lives in the Engine.
// Thread-safety: open() may be called from any server thread; each Handler
// runs on its connection's thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "daemon/dnsbl_service.h"
#include "daemon/engine.h"
#include "milter/filter.h"

namespace backstop::daemon {

// One log line per decision (queue id, client, sender, recipients, role,
// kind, verdict, action, signals). Called from any thread.
using DecisionLog = std::function<void(std::string_view line)>;

class BackstopFilter final : public milter::Filter {
 public:
  // `engine` and `dnsbl` (may be null: no DNSBL zones) are not owned and
  // must outlive the filter and every handler.
  BackstopFilter(Engine* engine, DecisionLog log, DnsblService* dnsbl = nullptr);
  milter::Needs needs() const override;
  std::unique_ptr<milter::Handler> open() override;

 private:
  Engine* engine_;
  DecisionLog log_;
  DnsblService* dnsbl_;
};

// "<a@b>" -> "a@b", "<>" -> "" (also strips a source route).
std::string strip_brackets(std::string_view path);

}  // namespace backstop::daemon
