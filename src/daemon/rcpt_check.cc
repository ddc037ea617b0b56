#include "daemon/rcpt_check.h"

#include "batv/batv.h"
#include "mail/header.h"

namespace backstop::daemon {

bool is_bounce_sender(std::string_view sender) {
  if (sender.empty()) return true;
  return mail::iequals(sender.substr(0, sender.find('@')), "mailer-daemon");
}

RcptCheck check_rcpt(Engine& engine, const Snapshot& snap, std::string_view sender, std::string_view rcpt,
                     const DecisionLog& log) {
  RcptCheck out;
  if (snap.is_trap(rcpt)) {
    out.kind = RcptCheck::Kind::kTrap;
    return out;
  }
  if (snap.batv_mode == BatvMode::kOff || !is_bounce_sender(sender) || !snap.correlator->is_local(rcpt)) {
    return out;
  }
  const auto v = batv::verify(snap.keys, rcpt, engine.clock().unix_day(), {snap.signer.lifetime, 0});
  const std::string result(batv::verdict_name(v.verdict));
  if (v.verdict == batv::Verdict::kValid) {
    engine.metrics().batv_rcpt(result, "accept");
    out.kind = RcptCheck::Kind::kAccept;
    out.untagged = v.address;
    return out;
  }
  if (snap.batv_mode != BatvMode::kEnforce) {
    engine.metrics().batv_rcpt(result, "record");
    out.kind = RcptCheck::Kind::kRecord;
    return out;
  }
  if (engine.clock().now_unix() < snap.batv_enforce_from) {
    engine.metrics().batv_rcpt(result, "grace");
    out.kind = RcptCheck::Kind::kRecord;
    return out;
  }
  engine.metrics().batv_rcpt(result, "reject");
  if (log) log("role=batv rcpt=" + std::string(rcpt) + " batv=" + result + " action=reject");
  out.kind = RcptCheck::Kind::kReject;
  out.code = 550;
  out.status = "5.7.1";
  out.text = "<" + std::string(rcpt) + ">: invalid or missing BATV tag on a bounce";
  return out;
}

}  // namespace backstop::daemon
