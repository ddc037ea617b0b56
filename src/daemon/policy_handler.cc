#include "daemon/policy_handler.h"

#include "mail/header.h"

namespace backstop::daemon {

PolicyHandler::PolicyHandler(Engine* engine, DecisionLog log, DnsblService* dnsbl)
    : engine_(engine), log_(std::move(log)), dnsbl_(dnsbl) {}

void PolicyHandler::check(const policyd::Request& req, policyd::Reply reply) {
  auto answer = [this, reply](std::string action) {
    engine_->metrics().policy_request(action.substr(0, action.find(' ')));
    reply(std::move(action));
  };
  auto state = req.get("protocol_state").value_or("RCPT");
  if (!mail::iequals(state, "RCPT")) return answer("DUNNO");
  if (!req.get("sasl_username").value_or("").empty()) return answer("DUNNO");  // outbound
  std::string sender(req.get("sender").value_or(""));
  std::string rcpt(req.get("recipient").value_or(""));
  std::string client(req.get("client_address").value_or(""));
  auto snap = engine_->snapshot();
  if (snap->is_outbound_ip(client)) return answer("DUNNO");

  bool bounce = sender.empty() || mail::iequals(sender.substr(0, sender.find('@')), "mailer-daemon");
  if (bounce && snap->batv_mode != BatvMode::kOff && snap->correlator->is_local(rcpt) &&
      !snap->is_trap(rcpt)) {
    auto v = batv::verify(snap->keys, rcpt, engine_->clock().unix_day(), {snap->signer.lifetime, 0});
    std::string result(batv::verdict_name(v.verdict));
    if (v.verdict != batv::Verdict::kValid) {
      bool enforce = snap->batv_mode == BatvMode::kEnforce &&
                     engine_->clock().now_unix() >= snap->batv_enforce_from;
      engine_->metrics().batv_rcpt(result, enforce ? "reject" : "record");
      if (enforce) {
        if (log_) log_("policy client=" + client + " from=<> to=<" + rcpt + "> batv=" + result + " action=reject");
        return answer("550 5.7.1 <" + rcpt + ">: invalid or missing BATV tag on a bounce");
      }
    } else {
      engine_->metrics().batv_rcpt(result, "accept");
    }
  }
  if (!dnsbl_) return answer("DUNNO");
  dnsbl_->check(client, sender, [answer, log = log_, client, rcpt](MailCheckResult r) {
    if (!r.reject) return answer(r.header_name.empty() ? "DUNNO" : "PREPEND " + r.header_name + ": " + r.header_value);
    if (log) log("policy client=" + client + " to=<" + rcpt + "> dnsbl action=reject");
    answer(r.reply_code + " " + r.status_code + " " + r.text);
  });
}

}  // namespace backstop::daemon
