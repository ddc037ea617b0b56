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

// The internal-failure answer (milter.on_error applies here too): 451 4.3.0,
// or DUNNO.
std::string failure_action(const Snapshot& snap, std::string_view why) {
  auto d = policy::internal_failure(why, snap.fail_open);
  if (d.action == policy::Action::kTempfail) return "451 " + d.reply.status + " " + d.reply.text;
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
  // Answered once: by the check, or by the failure below if it throws
  // first. May run on another thread (the worker, the DNSBL thread): holds
  // nothing of this handler.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto answer = [engine = engine_, reply, answered](std::string action) {
    if (answered->exchange(true)) return;
    engine->metrics().policy_request(action.substr(0, action.find(' ')));
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
    std::string prefix = "policy client=" + client + " from=<" + sender + "> to=<" + rcpt + ">";
    std::string instance(req.get("instance").value_or(""));
    const bool message = instance.empty() || first_of_instance(instance);
    // The limits write to the store: on the engine's worker, never on the
    // policy service's event loop.
    auto task = [engine = engine_, snap, c = std::move(c), log = log_, prefix = std::move(prefix), message, answer]() {
      try {
        if (message) {
          auto a = limit_message(*engine, *snap, c, log, prefix);
          if (a.kind != GuardAnswer::Kind::kContinue) return answer(policy_action(a));
        }
        answer(policy_action(limit_recipients(*engine, *snap, c, 1, log, prefix)));
      } catch (const std::exception& e) {  // as in check(), on this thread
        engine->metrics().error("internal");
        auto d = policy::internal_failure(std::string("exception while checking: ") + e.what(), snap->fail_open);
        if (log) log(prefix + " " + d.reason);
        answer(d.action == policy::Action::kTempfail ? d.reply.line() : "DUNNO");
      }
    };
    if (!engine_->worker().post(std::move(task))) {
      engine_->metrics().error("worker");
      answer(failure_action(*snap, "outbound worker queue full or stopping"));
    }
    return;
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
