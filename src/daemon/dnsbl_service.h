// The DNSBL check at MAIL for `backstop serve`: one c-ares client on its own
// event-loop thread; milter connections post their checks to it and get the
// answer back through their completion (called from that thread).
// A DNS failure or timeout never rejects (dnsbl::decide accepts on errors).
// Zone changes take effect on restart (a reload keeps the running client,
// so no check in flight is ever dropped).
// Thread-safety: check() may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "config/config.h"
#include "daemon/metrics.h"

namespace backstop::daemon {

struct MailCheckResult {
  bool reject = false;
  std::string reply_code;    // "554"
  std::string status_code;   // "5.7.1"
  std::string text;
  std::string header_name;   // set when a tag zone listed the client
  std::string header_value;
};

class DnsblService {
 public:
  // nullptr (and no error) when no zone is configured.
  static Result<std::unique_ptr<DnsblService>> start(const config::Config& cfg, Metrics* metrics,
                                                     const Clock* clock);
  virtual ~DnsblService() = default;
  // Looks `ip` up for a message from `mail_from` (safe mode applies) and calls
  // `done` exactly once, from the DNSBL thread.
  virtual void check(std::string ip, std::string mail_from,
                     std::function<void(MailCheckResult)> done) = 0;
};

}  // namespace backstop::daemon
