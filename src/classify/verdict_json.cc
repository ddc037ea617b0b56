#include "classify/verdict_json.h"

#include <cstdio>
#include <vector>

namespace backstop::classify {
namespace {

class Obj {
 public:
  void str(std::string_view key, std::string_view value) {
    if (!value.empty()) raw(key, json_quote(value));
  }
  void list(std::string_view key, const std::vector<std::string>& values) {
    if (values.empty()) return;
    std::string a = "[";
    for (std::size_t i = 0; i < values.size(); ++i) a += (i ? "," : "") + json_quote(values[i]);
    raw(key, a + "]");
  }
  void raw(std::string_view key, std::string_view json) {
    out_ += out_.size() > 1 ? "," : "";
    out_ += json_quote(key) + ":" + std::string(json);
  }
  std::string done() { return out_ + "}"; }

 private:
  std::string out_ = "{";
};

}  // namespace

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

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
  o.raw("kind", json_quote(kind_name(v.kind)));
  char conf[32];
  std::snprintf(conf, sizeof conf, "%.3f", v.confidence);
  o.raw("confidence", conf);
  o.raw("feedback_report", v.feedback_report ? "true" : "false");
  std::string sig = "[";
  for (std::size_t i = 0; i < v.signals.size(); ++i) sig += (i ? "," : "") + json_quote(v.signals[i]);
  o.raw("signals", sig + "]");
  o.raw("refs", references_json(v.refs));
  return o.done();
}

}  // namespace backstop::classify
