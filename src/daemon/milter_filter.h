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

// The store reads of the calling thread's event loop (serve gives each
// milter thread its own when the store is remote: store/redis_loop.h), or
// null: a bounce's look-up then runs on the engine's judge worker. Not
// owned; set on the thread that uses it, and reset before it is destroyed.
void set_thread_loop_reads(store::AsyncReads* reads) noexcept;

// The address of an SMTP reverse or forward path as the MTA gives it:
// "<a@b>" -> "a@b", "<>" -> "", " <@r1,@r2:a@b> " -> "a@b" (source route dropped).
std::string path_address(std::string_view path);

}  // namespace backstop::daemon
