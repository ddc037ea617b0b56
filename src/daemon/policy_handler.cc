#include "daemon/policy_handler.h"

#include <atomic>
#include <exception>
#include <memory>

#include "daemon/outbound_guard.h"
#include "daemon/rcpt_check.h"
#include "mail/header.h"

namespace backstop::daemon {
namespace {

std::string policy_action(const GuardAnswer& a) {
  switch (a.kind) {
    case GuardAnswer::Kind::kTempfail: return "451 " + a.status + " " + a.text;
    case GuardAnswer::Kind::kReject: return "550 " + a.status + " " + a.text;
    case GuardAnswer::Kind::kHold: return "HOLD " + a.text;
    case GuardAnswer::Kind::kDiscard: return "DISCARD " + a.text;
    case GuardAnswer::Kind::kContinue: break;
  }
  return "DUNNO";
}

}  // namespace

bool PolicyHandler::first_of_instance(const std::string& instance) {
  std::lock_guard lock(mu_);
  if (!instances_.insert(instance).second) return false;
  instance_order_.push_back(instance);
  if (instance_order_.size() > kMaxPolicyInstances) {
    instances_.erase(instance_order_.front());
    instance_order_.pop_front();
  }
  return true;
}

PolicyHandler::PolicyHandler(Engine* engine, DecisionLog log, DnsblService* dnsbl)
    : engine_(engine), log_(std::move(log)), dnsbl_(dnsbl) {}

void PolicyHandler::check(const policyd::Request& req, policyd::Reply reply) {
  // Answered once: by the check, or by the failure below if it throws first.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto answer = [this, reply, answered](std::string action) {
    if (answered->exchange(true)) return;
    engine_->metrics().policy_request(action.substr(0, action.find(' ')));
    reply(std::move(action));
  };
  try {
    decide(req, answer);
  } catch (const std::exception& e) {
    // A bug or an allocation failure costs this request a 451 (or DUNNO under
    // milter.on_error = "accept"), not the policy connection.
    engine_->metrics().error("internal");
    auto d = policy::internal_failure(std::string("exception while checking: ") + e.what(),
                                      engine_->snapshot()->fail_open);
    if (log_) {
      log_("policy client=" + std::string(req.get("client_address").value_or("")) + " from=<" +
           std::string(req.get("sender").value_or("")) + "> to=<" +
           std::string(req.get("recipient").value_or("")) + "> " + d.reason);
    }
    answer(d.action == policy::Action::kTempfail ? d.reply.line() : "DUNNO");
  }
}

void PolicyHandler::decide(const policyd::Request& req, const std::function<void(std::string)>& answer) {
  auto state = req.get("protocol_state").value_or("RCPT");
  if (!mail::iequals(state, "RCPT")) return answer("DUNNO");
  std::string sender(req.get("sender").value_or(""));
  std::string rcpt(req.get("recipient").value_or(""));
  std::string client(req.get("client_address").value_or(""));
  std::string sasl(req.get("sasl_username").value_or(""));
  auto snap = engine_->snapshot();
  if (!sasl.empty() || snap->is_outbound_ip(client)) {
    outbound::Client c{sasl, client, sender};
    const std::string prefix = "policy client=" + client + " from=<" + sender + "> to=<" + rcpt + ">";
    std::string instance(req.get("instance").value_or(""));
    if (instance.empty() || first_of_instance(instance)) {
      auto a = limit_message(*engine_, *snap, c, log_, prefix);
      if (a.kind != GuardAnswer::Kind::kContinue) return answer(policy_action(a));
    }
    return answer(policy_action(limit_recipients(*engine_, *snap, c, 1, log_, prefix)));
  }

  const auto c = check_rcpt(*engine_, *snap, sender, rcpt, [&](std::string_view line) {
    if (log_) log_("policy client=" + client + " from=<" + sender + "> to=<" + rcpt + "> " + std::string(line));
  });
  if (c.kind == RcptCheck::Kind::kReject) return answer(std::to_string(c.code) + " " + c.status + " " + c.text);
  if (!dnsbl_) return answer("DUNNO");
  dnsbl_->check(client, sender, [answer, log = log_, client, rcpt](MailCheckResult r) {
    if (!r.reject) return answer(r.header_name.empty() ? "DUNNO" : "PREPEND " + r.header_name + ": " + r.header_value);
    if (log) log("policy client=" + client + " to=<" + rcpt + "> dnsbl action=reject");
    answer(r.reply_code + " " + r.status_code + " " + r.text);
  });
}

}  // namespace backstop::daemon
