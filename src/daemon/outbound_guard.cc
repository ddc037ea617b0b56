#include "daemon/outbound_guard.h"

#include <algorithm>

#include "mail/address.h"
#include "mail/message.h"
#include "outbound/gate.h"

namespace backstop::daemon {
namespace {

using Kind = GuardAnswer::Kind;

// Store key prefixes: inbound facts by Message-ID, and the once-per-period
// autoreply counter per (user, correspondent).
constexpr std::string_view kFactsPrefix = "in:";
constexpr std::string_view kRepliedPrefix = "ar:";

std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : mail::ascii_lower(address.substr(at + 1));
}

GuardAnswer internal_failure(Engine& engine, const Snapshot& snap, const Error& e, const DecisionLog& log,
                             std::string_view prefix) {
  engine.metrics().error("store");
  if (log) log(std::string(prefix) + " role=outbound error=\"" + e.message() + "\" action=" + (snap.fail_open ? "accept" : "tempfail"));
  if (snap.fail_open) return {};
  return {Kind::kTempfail, "4.3.0", "temporary failure, please try again later"};
}

GuardAnswer apply_limits(Engine& engine, const Snapshot& snap, const Result<outbound::Verdict>& v,
                         const outbound::Client& client, const DecisionLog& log, std::string_view prefix) {
  if (!v) return internal_failure(engine, snap, v.error(), log, prefix);
  for (const auto& t : v->trips) {
    const std::string action(outbound::action_name(v->refused ? v->action : outbound::Action::kAlert));
    engine.metrics().limit_trip(t.rule, outbound::measure_name(t.measure), action);
    if (log) {
      log(std::string(prefix) + " role=outbound limit=" + t.rule + " scope=" + std::string(outbound::scope_name(t.scope)) +
          " identity=" + t.identity + " measure=" + std::string(outbound::measure_name(t.measure)) +
          " window=" + t.window.text + " count=" + std::to_string(t.count) + " action=" + action);
    }
    if (t.first && !snap.limits_notify.empty()) {
      std::string body = "backstop: an outbound limit tripped.\n\nlimit:    " + t.rule + "\nscope:    " +
                         std::string(outbound::scope_name(t.scope)) + " " + t.identity + "\nmeasure:  " +
                         std::string(outbound::measure_name(t.measure)) + " " + std::to_string(t.count) +
                         " (limit " + t.window.text + ")\naction:   " + action + "\nclient:   " + client.ip +
                         (client.sasl_user.empty() ? "" : " (SASL " + client.sasl_user + ")") + "\nsender:   <" +
                         client.sender + ">\n\nThis notice is sent at most once per limit, client and window.";
      if (!engine.notifier().send(snap.limits_sendmail, snap.limits_notify,
                                  "backstop: limit " + t.rule + " tripped by " + t.identity, std::move(body))) {
        engine.metrics().error("notify");
      }
    }
  }
  if (!v->refused) return {};
  const std::string reason = v->reason();
  switch (v->action) {
    case outbound::Action::kReject: return {Kind::kReject, "5.7.1", reason};
    case outbound::Action::kHold: return {Kind::kHold, "", reason};
    case outbound::Action::kTempfail:
    case outbound::Action::kAlert: break;
  }
  return {Kind::kTempfail, "4.7.1", reason + "; try again later"};
}

// Does the message say it is automatic? Only such messages are gated: a
// person's own message is never refused here, whatever its words. Headers
// only, so ordinary outbound mail costs a header parse, not a MIME walk.
bool says_automatic(const mail::HeaderList& h, std::string_view sender) {
  if (sender.empty()) return true;
  if (auto a = h.get("Auto-Submitted")) {
    if (mail::ascii_lower(mail::trim(a->substr(0, a->find(';')))) != "no") return true;
  }
  if (h.find("X-Autoreply") || h.find("X-Autorespond") || h.find("X-Autoresponse")) return true;
  if (auto p = h.get("Precedence")) {
    auto pv = mail::ascii_lower(mail::trim(*p));
    if (pv == "auto_reply" || pv == "bulk" || pv == "junk") return true;
  }
  return false;
}

// Which kind of automated response the classifier sees; an unclassified
// `Auto-Submitted: auto-replied` message is an autoreply (RFC 3834).
outbound::AutoKind auto_kind(const mail::Message& m, const classify::Verdict& v) {
  switch (v.kind) {
    case classify::Kind::kAutoreply: return outbound::AutoKind::kAutoreply;
    case classify::Kind::kChallenge: return outbound::AutoKind::kChallenge;
    case classify::Kind::kVirusNotice: return outbound::AutoKind::kVirusNotice;
    case classify::Kind::kSubscriptionConfirm: return outbound::AutoKind::kSubscriptionConfirm;
    case classify::Kind::kBounce:
    case classify::Kind::kNone: break;
  }
  auto a = m.headers.get("Auto-Submitted");
  if (a && mail::ascii_lower(mail::trim(a->substr(0, a->find(';')))) == "auto-replied") {
    return outbound::AutoKind::kAutoreply;
  }
  return outbound::AutoKind::kNone;
}

bool is_list_host(const Snapshot& snap, const outbound::Client& c, std::string_view from_domain) {
  const auto& g = snap.gate;
  if (auto a = ip::parse(c.ip)) {
    for (const auto& n : g.list_networks) {
      if (ip::contains(n, *a)) return true;
    }
  }
  const std::string user = mail::ascii_lower(c.sasl_user);
  const std::string sd = domain_of(c.sender);
  for (const auto& e : g.list_names) {
    if (!e.empty() && e.front() == '@') {
      if (e.substr(1) == sd || e.substr(1) == from_domain) return true;
    } else if (!user.empty() && e == user) {
      return true;
    }
  }
  return false;
}

}  // namespace

GuardAnswer limit_message(Engine& engine, const Snapshot& snap, const outbound::Client& client,
                          const DecisionLog& log, std::string_view log_prefix) {
  if (!snap.limiter || !snap.limiter->enabled()) return {};
  return apply_limits(engine, snap, snap.limiter->message(client), client, log, log_prefix);
}

GuardAnswer limit_recipients(Engine& engine, const Snapshot& snap, const outbound::Client& client, std::int64_t n,
                             const DecisionLog& log, std::string_view log_prefix) {
  if (!snap.limiter || !snap.limiter->enabled()) return {};
  return apply_limits(engine, snap, snap.limiter->recipients(client, n), client, log, log_prefix);
}

std::optional<GateCase> gate_classify(const Snapshot& snap, std::span<const mail::FieldView> headers,
                                      std::string_view body, const outbound::Client& client,
                                      std::span<const std::string> rcpts) {
  const auto& g = snap.gate;
  if (g.mode == GateSettings::Mode::kOff || rcpts.empty()) return std::nullopt;
  mail::Limits limits = mail::kDefaultLimits;
  limits.max_body_text = snap.max_body;
  // The header section first: ordinary outbound mail costs no MIME walk.
  if (const auto hp = mail::parse_header_fields(headers, limits);
      hp && !says_automatic(hp->headers, client.sender)) {
    return std::nullopt;
  }
  auto m = mail::parse_message(headers, body, limits);
  if (!m || !says_automatic(m->headers, client.sender)) return std::nullopt;
  mail::Envelope env;
  env.known = true;
  env.mail_from = client.sender;
  env.rcpts.assign(rcpts.begin(), rcpts.end());
  env.client_ip = client.ip;
  const auto verdict = snap.classifier->classify(*m, env);
  GateCase c;
  c.kind = auto_kind(*m, verdict);
  if (c.kind == outbound::AutoKind::kNone) return std::nullopt;

  // The answering user: the From address when it is ours, else the envelope
  // sender, else the SASL user.
  if (auto from = m->headers.get("From")) {
    if (auto list = mail::parse_address_list(*from); list && !list->empty()) {
      std::string a = mail::ascii_lower((*list)[0].addr_spec());
      c.from_domain = domain_of(a);
      if (snap.correlator->is_local(a)) c.user = a;
    }
  }
  if (c.user.empty()) c.user = mail::ascii_lower(client.sender);
  if (c.user.empty()) c.user = mail::ascii_lower(client.sasl_user);
  c.ids = outbound::referenced_ids(m->headers);
  return c;
}

GuardAnswer gate_message(Engine& engine, const Snapshot& snap, std::span<const mail::FieldView> headers,
                         std::string_view body, const outbound::Client& client,
                         std::span<const std::string> rcpts, const DecisionLog& log,
                         std::string_view log_prefix) {
  auto c = gate_classify(snap, headers, body, client, rcpts);
  if (!c) return {};
  return gate_decide(engine, snap, *c, client, rcpts, log, log_prefix);
}

GuardAnswer gate_decide(Engine& engine, const Snapshot& snap, const GateCase& gc, const outbound::Client& client,
                        std::span<const std::string> rcpts, const DecisionLog& log, std::string_view log_prefix) {
  const auto& g = snap.gate;
  const outbound::AutoKind kind = gc.kind;
  const std::string kind_name(outbound::auto_kind_name(kind));
  const std::string& user = gc.user;
  const std::string& from_domain = gc.from_domain;
  const auto& ids = gc.ids;

  std::optional<outbound::InboundFacts> original;
  auto look_up = [&]() -> Status {
    for (const auto& id : ids) {
      auto r = engine.facts().record_get(std::string(kFactsPrefix) + id);
      if (!r) return unexpected<Error>(r.error());
      if (*r) {
        original = outbound::decode_facts(**r);
        if (original) break;
      }
    }
    return {};
  };
  auto st = look_up();
  if (st && !original && !ids.empty()) {
    // The facts may still be lingering in the soft-state writer (at most
    // kSoftWriteLinger, one unsynced commit): automatic replies are rare
    // enough to wait for it here.
    (void)engine.facts_writer().flush();
    st = look_up();
  }
  if (!st) return internal_failure(engine, snap, st.error(), log, log_prefix);
  const std::string user_domain = domain_of(user);
  const bool any_sender = std::find(g.any_sender.begin(), g.any_sender.end(), user_domain) != g.any_sender.end();
  const bool list_host = is_list_host(snap, client, from_domain);

  outbound::GateDecision refused;
  std::vector<std::string> pass_rcpts;
  for (const auto& rcpt_raw : rcpts) {
    outbound::GateInput in;
    in.kind = kind;
    in.user = user;
    in.recipient = mail::ascii_lower(rcpt_raw);
    in.recipient_local = snap.correlator->is_local(in.recipient);
    in.original = original;
    in.any_sender = any_sender;
    in.list_host = list_host;
    in.challenge_allowed = g.challenge_allowed;
    if (!in.recipient_local && kind == outbound::AutoKind::kAutoreply && !user.empty()) {
      auto seen = engine.store().correspondent_last_seen(user, in.recipient);
      if (!seen) return internal_failure(engine, snap, seen.error(), log, log_prefix);
      in.correspondent = seen->has_value();
    }
    auto d = outbound::gate(in);
    if (d.action != outbound::GateAction::kPass) {
      refused = std::move(d);
      break;
    }
    if (d.rate_limited_kind) pass_rcpts.push_back(in.recipient);
  }
  const bool enforce = g.mode == GateSettings::Mode::kEnforce && engine.clock().now_unix() >= g.enforce_from;
  // Once per period per (user, correspondent), counted only when enforcing.
  if (refused.action == outbound::GateAction::kPass && enforce) {
    for (const auto& r : pass_rcpts) {
      std::string key = std::string(kRepliedPrefix) + user + ":" + r;
      if (key.size() > store::kMaxKeyBytes) key = std::string(kRepliedPrefix) + "#" + std::to_string(outbound::hash64(key));
      auto ok = engine.counters().counter_add_if_below(key, 1, 1,
                                                    engine.clock().now_unix() + g.period);
      if (!ok) return internal_failure(engine, snap, ok.error(), log, log_prefix);
      if (!*ok) {
        refused = {outbound::GateAction::kRefuse, "period",
                   "automatic reply not sent: <" + r + "> already got one from <" + user + "> in the last " +
                       std::to_string(g.period / 86400) + " days (RFC 3834)",
                   false};
        break;
      }
    }
  }
  if (refused.action == outbound::GateAction::kPass) {
    engine.metrics().autoreply_gate(kind_name, "pass");
    if (log) log(std::string(log_prefix) + " role=outbound gate=" + kind_name + " result=pass");
    return {};
  }
  std::string action = !enforce ? "log"
                       : refused.action == outbound::GateAction::kDiscard ? "discard"
                       : g.refuse == GateSettings::Refuse::kDiscard ? "discard"
                       : g.refuse == GateSettings::Refuse::kHold ? "hold" : "reject";
  engine.metrics().autoreply_gate(kind_name, refused.reason);
  if (log) {
    log(std::string(log_prefix) + " role=outbound gate=" + kind_name + " result=" + refused.reason + " user=<" +
        user + "> action=" + action);
  }
  if (action == "log") return {};
  if (action == "discard") return {Kind::kDiscard, "", refused.text};
  if (action == "hold") return {Kind::kHold, "", refused.text};
  return {Kind::kReject, "5.7.1", refused.text};
}

void remember_inbound(Engine& engine, const Snapshot& snap, const mail::HeaderList& headers,
                      std::string_view sender, std::span<const std::string> rcpts, bool judged_backscatter,
                      bool dnsbl) {
  if (snap.gate.mode == GateSettings::Mode::kOff) return;
  auto mid = headers.get("Message-ID");
  if (!mid) return;
  auto t = mail::trim(*mid);
  auto lt = t.find('<');
  auto gt = t.find('>', lt == std::string_view::npos ? 0 : lt);
  std::string id(lt != std::string_view::npos && gt != std::string_view::npos ? t.substr(lt + 1, gt - lt - 1) : t);
  if (id.empty() || id.size() > store::kMaxMessageIdBytes) return;
  std::vector<std::string> local;
  for (const auto& r : rcpts) {
    if (snap.correlator->is_local(r)) local.push_back(mail::ascii_lower(r));
  }
  auto facts = outbound::facts_of(headers, sender, local);
  facts.spam = facts.spam || judged_backscatter;
  facts.dnsbl = dnsbl;
  store::RecordPut put{std::string(kFactsPrefix) + id, outbound::encode(facts),
                       engine.clock().now_unix() + snap.gate.facts_ttl};
  if (!engine.facts_writer().enqueue(std::move(put))) engine.metrics().error("store");
}

}  // namespace backstop::daemon
