#include "classify/verdict_json.h"

#include <cstdio>
#include <vector>

#include "common/text.h"

namespace backstop::classify {
namespace {

class Obj {
 public:
  void str(std::string_view key, std::string_view value) {
    if (!value.empty()) raw(key, text::quote(value));
  }
  void list(std::string_view key, const std::vector<std::string>& values) {
    if (values.empty()) return;
    std::string a = "[";
    for (std::size_t i = 0; i < values.size(); ++i) a += (i ? "," : "") + text::quote(values[i]);
    raw(key, a + "]");
  }
  void raw(std::string_view key, std::string_view json) {
    out_ += out_.size() > 1 ? "," : "";
    out_ += text::quote(key) + ":" + std::string(json);
  }
  std::string done() { return out_ + "}"; }

 private:
  std::string out_ = "{";
};

}  // namespace

std::string references_json(const References& r) {
  Obj o;
  o.str("message_id", r.message_id);
  o.list("in_reply_to", r.in_reply_to);
  o.list("references", r.references);
  o.str("subject", r.subject);
  o.str("from", r.from);
  o.list("to", r.to);
  o.str("date", r.date);
  o.str("original_sender", r.original_sender);
  o.str("original_envelope_id", r.original_envelope_id);
  o.str("reporting_mta", r.reporting_mta);
  if (!r.recipients.empty()) {
    std::string a = "[";
    for (std::size_t i = 0; i < r.recipients.size(); ++i) {
      const DsnRecipient& d = r.recipients[i];
      Obj e;
      e.str("original_recipient", d.original_recipient);
      e.str("final_recipient", d.final_recipient);
      e.str("action", d.action);
      e.str("status", d.status);
      e.str("diagnostic", d.diagnostic);
      a += (i ? "," : "") + e.done();
    }
    o.raw("recipients", a + "]");
  }
  o.list("original_received_ips", r.original_received_ips);
  o.list("original_received_hosts", r.original_received_hosts);
  return o.done();
}

std::string verdict_json(const Verdict& v) {
  Obj o;
  o.raw("kind", text::quote(kind_name(v.kind)));
  char conf[32];
  std::snprintf(conf, sizeof conf, "%.3f", v.confidence);
  o.raw("confidence", conf);
  o.raw("feedback_report", v.feedback_report ? "true" : "false");
  std::string sig = "[";
  for (std::size_t i = 0; i < v.signals.size(); ++i) sig += (i ? "," : "") + text::quote(v.signals[i]);
  o.raw("signals", sig + "]");
  o.raw("refs", references_json(v.refs));
  return o.done();
}

}  // namespace backstop::classify
