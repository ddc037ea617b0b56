#include "daemon/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace backstop::daemon {

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& messages =
      prometheus::BuildCounter()
          .Name("backstop_messages_total")
          .Help("Messages judged, by role, kind, correlation verdict and action")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& latency =
      prometheus::BuildHistogram()
          .Name("backstop_decision_seconds")
          .Help("Time from end of message to the decision")
          .Register(*registry);
  prometheus::Histogram& latency_h = latency.Add(
      {}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                  0.01, 0.025, 0.05, 0.1, 0.25, 1});
  prometheus::Family<prometheus::Counter>& batv =
      prometheus::BuildCounter()
          .Name("backstop_batv_recipients_total")
          .Help("BATV checks of null-sender recipients at RCPT, by result and action")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& signed_ =
      prometheus::BuildCounter()
          .Name("backstop_batv_signed_total")
          .Help("Outbound envelope senders signed with BATV")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& dnsbl =
      prometheus::BuildCounter()
          .Name("backstop_dnsbl_lookups_total")
          .Help("DNSBL lookups by zone and result")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& errors =
      prometheus::BuildCounter()
          .Name("backstop_errors_total")
          .Help("Internal failures by place; each answered 4xx or the configured fail-open")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& ledger =
      prometheus::BuildCounter()
          .Name("backstop_ledger_recorded_total")
          .Help("Outbound messages whose ledger record is committed")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& ledger_failed =
      prometheus::BuildCounter()
          .Name("backstop_ledger_failed_total")
          .Help("Outbound messages whose ledger record could not be committed (answered 4xx or fail-open)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& store_failures =
      prometheus::BuildCounter()
          .Name("backstop_store_write_failures_total")
          .Help("Failed store commit attempts (retried or not), by store")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& conns =
      prometheus::BuildGauge()
          .Name("backstop_milter_connections")
          .Help("Open milter connections")
          .Register(*registry);
  prometheus::Gauge& conns_g = conns.Add({});
  prometheus::Family<prometheus::Counter>& policy =
      prometheus::BuildCounter()
          .Name("backstop_policy_requests_total")
          .Help("Postfix policy delegation requests by action")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& limits =
      prometheus::BuildCounter()
          .Name("backstop_limit_trips_total")
          .Help("Outbound limit trips by limit (rule name), measure and action")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& gate =
      prometheus::BuildCounter()
          .Name("backstop_autoreply_gate_total")
          .Help("Outbound automated responses by kind and gate result")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& evidence =
      prometheus::BuildCounter()
          .Name("backstop_correlation_evidence_total")
          .Help("Correlation evidence of judged messages by source and what it points to")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& web_requests =
      prometheus::BuildCounter()
          .Name("backstop_dnsbl_web_requests_total")
          .Help("Requests answered by the trap DNSBL's web page, by page and HTTP status")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& web_delists =
      prometheus::BuildCounter()
          .Name("backstop_dnsbl_web_delistings_total")
          .Help("Self-service delistings through the trap DNSBL's web page")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& redis_trips =
      prometheus::BuildCounter()
          .Name("backstop_redis_round_trips_total")
          .Help("Round trips to Redis (one pipeline each) by result: ok, error_reply, failed")
          .Register(*registry);
  prometheus::Counter& redis_ok = redis_trips.Add({{"result", "ok"}});
  prometheus::Counter& redis_error_reply = redis_trips.Add({{"result", "error_reply"}});
  prometheus::Counter& redis_failed = redis_trips.Add({{"result", "failed"}});
  prometheus::Counter& redis_commands =
      prometheus::BuildCounter()
          .Name("backstop_redis_commands_total")
          .Help("Commands sent to Redis (a script counts as one)")
          .Register(*registry)
          .Add({});
  prometheus::Histogram& redis_latency =
      prometheus::BuildHistogram()
          .Name("backstop_redis_round_trip_seconds")
          .Help("Time of one round trip to Redis, from the write to the last reply or the failure")
          .Register(*registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                           0.025, 0.05, 0.1, 0.25, 1});
  prometheus::Family<prometheus::Counter>& redis_connects =
      prometheus::BuildCounter()
          .Name("backstop_redis_connects_total")
          .Help("Attempts to open a Redis connection, by result: ok, failed")
          .Register(*registry);
  prometheus::Counter& redis_connect_ok = redis_connects.Add({{"result", "ok"}});
  prometheus::Counter& redis_connect_failed = redis_connects.Add({{"result", "failed"}});
  prometheus::Family<prometheus::Counter>& web_refusals =
      prometheus::BuildCounter()
          .Name("backstop_dnsbl_web_refusals_total")
          .Help("Delisting requests refused or failed, by reason")
          .Register(*registry);
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::message(std::string_view role, std::string_view kind, std::string_view verdict,
                      std::string_view action) {
  impl_->messages
      .Add({{"role", std::string(role)},
            {"kind", std::string(kind)},
            {"verdict", std::string(verdict)},
            {"action", std::string(action)}})
      .Increment();
}
void Metrics::decision_latency(double seconds) { impl_->latency_h.Observe(seconds); }
void Metrics::batv_rcpt(std::string_view result, std::string_view action) {
  impl_->batv.Add({{"result", std::string(result)}, {"action", std::string(action)}}).Increment();
}
void Metrics::dnsbl_web_request(std::string_view page, int status) {
  impl_->web_requests.Add({{"page", std::string(page)}, {"status", std::to_string(status)}}).Increment();
}
void Metrics::redis_round_trip(std::size_t commands, double seconds, std::string_view result) {
  (result == "ok" ? impl_->redis_ok : result == "error_reply" ? impl_->redis_error_reply : impl_->redis_failed)
      .Increment();
  impl_->redis_commands.Increment(static_cast<double>(commands));
  impl_->redis_latency.Observe(seconds);
}
void Metrics::redis_connect(bool ok) { (ok ? impl_->redis_connect_ok : impl_->redis_connect_failed).Increment(); }
void Metrics::dnsbl_web_delisting() { impl_->web_delists.Add({}).Increment(); }
void Metrics::dnsbl_web_refusal(std::string_view reason) {
  impl_->web_refusals.Add({{"reason", std::string(reason)}}).Increment();
}
void Metrics::batv_signed() { impl_->signed_.Add({}).Increment(); }
void Metrics::dnsbl(std::string_view zone, std::string_view result) {
  impl_->dnsbl.Add({{"zone", std::string(zone)}, {"result", std::string(result)}}).Increment();
}
void Metrics::error(std::string_view where) {
  impl_->errors.Add({{"where", std::string(where)}}).Increment();
}
void Metrics::ledger_recorded() { impl_->ledger.Add({}).Increment(); }
void Metrics::ledger_failed() { impl_->ledger_failed.Add({}).Increment(); }
void Metrics::store_write_failure(std::string_view store) {
  impl_->store_failures.Add({{"store", std::string(store)}}).Increment();
}
void Metrics::connection_opened() { impl_->conns_g.Increment(); }
void Metrics::connection_closed() { impl_->conns_g.Decrement(); }
void Metrics::policy_request(std::string_view action) {
  impl_->policy.Add({{"action", std::string(action)}}).Increment();
}
void Metrics::limit_trip(std::string_view limit, std::string_view measure, std::string_view action) {
  impl_->limits.Add({{"limit", std::string(limit)}, {"measure", std::string(measure)}, {"action", std::string(action)}})
      .Increment();
}
void Metrics::autoreply_gate(std::string_view kind, std::string_view result) {
  impl_->gate.Add({{"kind", std::string(kind)}, {"result", std::string(result)}}).Increment();
}

void Metrics::evidence(std::string_view source, std::string_view points_to) {
  impl_->evidence.Add({{"source", std::string(source)}, {"points_to", std::string(points_to)}}).Increment();
}

std::string Metrics::render() const {
  prometheus::TextSerializer s;
  return s.Serialize(impl_->registry->Collect());
}
prometheus::Registry& Metrics::registry() { return *impl_->registry; }

}  // namespace backstop::daemon
