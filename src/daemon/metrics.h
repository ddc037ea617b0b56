// Prometheus metrics of `backstop serve` (documented in docs/metrics.md).
// The families are created once; incrementing is lock-free (prometheus-cpp
// counters are atomics), so the mail path can count from any thread.
// Thread-safety: all members are safe to use concurrently.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Registry;
}

namespace backstop::daemon {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One judged message: role (inbound, outbound, trap), kind, verdict, action.
  void message(std::string_view role, std::string_view kind, std::string_view verdict,
               std::string_view action);
  // Seconds from end of message to the decision.
  void decision_latency(double seconds);
  // BATV at RCPT: result (batv::verdict_name) and what was done (accept,
  // reject, record; grace: would be refused after the grace period).
  void batv_rcpt(std::string_view result, std::string_view action);
  void batv_signed();
  // DNSBL lookup: zone and result (listed, clean, error).
  void dnsbl(std::string_view zone, std::string_view result);
  // Internal failures by place (store, dns, parse, internal) -> 4xx or fail-open.
  void error(std::string_view where);
  // A ledger record committed / failed for good (after retries).
  void ledger_recorded();
  void ledger_failed();
  // A failed commit attempt of a store writer: "state" (ledger,
  // correspondents, listings) or "soft" (counters, autoreply facts).
  void store_write_failure(std::string_view store);
  void connection_opened();
  void connection_closed();
  void policy_request(std::string_view action);
  // Outbound limits and the autoreply gate (issue 7).
  void limit_trip(std::string_view limit, std::string_view measure, std::string_view action);
  void autoreply_gate(std::string_view kind, std::string_view result);
  // One piece of correlation evidence of a judged message: its source
  // (batv, ledger, envid, recipient, relay, correspondent, warmup) and what
  // it points to (ours, not_ours, unknown).
  void evidence(std::string_view source, std::string_view points_to);
  // The trap DNSBL's web page (dnsbl/web.h): one answered request by page
  // and HTTP status; a self-service delisting; a refused or failed one by
  // reason.
  void dnsbl_web_request(std::string_view page, int status);
  void dnsbl_web_delisting();
  void dnsbl_web_refusal(std::string_view reason);

  // One round trip to Redis: `commands` in one pipeline, its time, and its
  // result: "ok", "error_reply" (a reply was an error) or "failed" (I/O
  // failure or timeout). Lock-free: called after every round trip.
  void redis_round_trip(std::size_t commands, double seconds, std::string_view result);
  // One attempt to open a Redis connection.
  void redis_connect(bool ok);
  // The exposition text of every metric (text format 0.0.4).
  std::string render() const;
  prometheus::Registry& registry();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace backstop::daemon
