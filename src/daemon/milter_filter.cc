#include "daemon/milter_filter.h"

#include "daemon/outbound_guard.h"
#include "daemon/rcpt_check.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <vector>

#include "common/random.h"
#include "common/ip.h"
#include "common/text.h"
#include "dnsbl/evidence.h"
#include "mail/dsn_values.h"
#include "mail/header.h"
#include "milter/protocol.h"

namespace backstop::daemon {
namespace {

thread_local store::AsyncReads* t_loop_reads = nullptr;

using milter::Action;
using milter::Modification;

enum class Role { kInbound, kOutbound, kTrap };
const char* role_name(Role r) {
  switch (r) {
    case Role::kInbound: return "inbound";
    case Role::kOutbound: return "outbound";
    case Role::kTrap: return "trap";
  }
  return "inbound";
}

// A fresh Message-ID for outbound mail that has none: 128 random bits @ host.
std::string new_message_id(std::string_view host) {
  std::uint8_t bytes[16];
  if (!secure_random().fill(bytes)) {
    auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    for (int i = 0; i < 16; ++i) bytes[i] = static_cast<std::uint8_t>(t >> (i % 8 * 8)) ^ i;
  }
  static const char* hex = "0123456789abcdef";
  std::string id;
  for (auto b : bytes) {
    id += hex[b >> 4];
    id += hex[b & 15];
  }
  return id + ".backstop@" + std::string(host.empty() ? "localhost" : host);
}

std::string bracket_id(std::string_view v) {
  auto t = mail::trim(v);
  auto lt = t.find('<');
  auto gt = t.find('>', lt == std::string_view::npos ? 0 : lt);
  if (lt != std::string_view::npos && gt != std::string_view::npos) return std::string(t.substr(lt + 1, gt - lt - 1));
  return std::string(t);
}

// The milter action for a guard answer at MAIL/RCPT (hold is applied at end of message).
Action guard_action(const GuardAnswer& a) {
  switch (a.kind) {
    case GuardAnswer::Kind::kTempfail: return Action::tempfail(451, a.status, a.text);
    case GuardAnswer::Kind::kReject: return Action::reject(550, a.status, a.text);
    case GuardAnswer::Kind::kDiscard: return Action::discard();
    case GuardAnswer::Kind::kHold:
    case GuardAnswer::Kind::kContinue: break;
  }
  return Action::cont();
}

// What the outbound limits said about the current message: written on the
// engine's worker, read on the connection's thread once the answer it sent
// came back (the session waits for it, so the two never overlap).
struct OutboundState {
  Action mail_answer;  // the message limits' answer (MAIL)
  std::string hold;    // why to hold the message (a limit or the gate said hold), or empty
  bool mail_limited = false;  // the message limits ran (or were posted) for this message
};

// The internal-failure answer (milter.on_error): 451 4.3.0, or continue.
Action failure_action(const Snapshot& snap, std::string_view why) {
  auto d = policy::internal_failure(why, snap.fail_open);
  if (d.action == policy::Action::kTempfail) return Action::tempfail(451, d.reply.status, d.reply.text);
  return Action::cont();
}

// Runs `task` on the engine's worker; if the worker refuses it (queue full,
// stopping) or the task throws, `failed` answers instead, with the reason.
// Both may run on either thread and must only touch what they captured.
void off_loop(Engine& engine, std::function<void()> task, std::function<void(std::string_view)> failed) {
  auto guarded = [task = std::move(task), failed]() {
    try {
      task();
    } catch (const std::exception& e) {
      failed(std::string("outbound check failed: ") + e.what());
    }
  };
  if (!engine.worker().post(std::move(guarded))) {
    engine.metrics().error("worker");
    failed("outbound worker queue full or stopping");
  }
}

// Everything the outbound end of message needs, copied from the connection
// (so that it can finish on the worker or the store writer's thread after
// the connection went away).
struct OutboundEom {
  Engine* engine = nullptr;
  std::shared_ptr<const Snapshot> snap;
  DecisionLog log;
  std::string prefix;  // log_prefix() of the message
  std::shared_ptr<OutboundState> ob;
  outbound::Client client;
  std::string sender;
  std::string id;
  std::string envid;  // the MAIL command's ENVID, decoded; empty = none or not valid
  std::vector<std::string> rcpts;
  milter::EomResult out;       // the Message-ID header to add, if any
  std::int64_t now = 0;
  bool late_limits = false;    // RCPT was no-reply: the limits run here
  std::optional<GateCase> gate;
  std::chrono::steady_clock::time_point start;
};

// The outbound limits at end of message when RCPT (and maybe MAIL) was
// no-reply (a reload turned the limits on during the SMTP session): the
// message's refusal, or nullopt. With only some recipients refused, 451 so
// that the client retries and the next session sorts them at RCPT.
std::optional<Action> late_limits(OutboundEom& j) {
  Engine& e = *j.engine;
  std::optional<Action> out;
  std::size_t refused = 0;
  if (!j.ob->mail_limited) {
    j.ob->mail_limited = true;
    auto a = limit_message(e, *j.snap, j.client, j.log, j.prefix);
    if (a.kind == GuardAnswer::Kind::kHold) j.ob->hold = a.text;
    j.ob->mail_answer = guard_action(a);
  }
  if (j.ob->mail_answer.kind != Action::Kind::kContinue) {
    out = j.ob->mail_answer;
    refused = j.rcpts.size();
  } else {
    for (std::size_t i = 0; i < j.rcpts.size(); ++i) {
      auto a = limit_recipients(e, *j.snap, j.client, 1, j.log, j.prefix);
      if (a.kind == GuardAnswer::Kind::kHold) j.ob->hold = a.text;
      Action act = guard_action(a);
      if (act.kind == Action::Kind::kContinue) continue;
      if (!out) out = act;
      ++refused;
    }
    if (!out) return std::nullopt;
    if (refused < j.rcpts.size()) {
      out = Action::tempfail(451, "4.7.1", "some recipients must be checked again, try again later");
    }
  }
  const char* action = out->kind == Action::Kind::kTempfail  ? "tempfail"
                       : out->kind == Action::Kind::kDiscard ? "discard"
                                                             : "reject";
  e.metrics().message("outbound", "unknown", "unknown", action);
  if (j.log) {
    j.log(j.prefix + " role=outbound late_rcpt_refusal=" + std::to_string(refused) + "/" +
          std::to_string(j.rcpts.size()) + " action=" + action);
  }
  return out;
}

// The last step of outbound end of message: hold, BATV signing, the
// correspondents and the ledger record. The MTA is answered only after the
// record is committed (group commit with every other message in flight): a
// real bounce of a message we acknowledged must find its record, even after
// a crash. If the commit fails for good, the message gets 451 4.3.0 (or
// passes under milter.on_error = "accept") instead of an acknowledgement
// whose record is missing. Never waits: `done` is called from the store
// writer's thread.
void finish_outbound(const std::shared_ptr<OutboundEom>& jp, milter::DecideEom done) {
  OutboundEom& j = *jp;
  Engine& e = *j.engine;
  const Snapshot& snap = *j.snap;
  milter::EomResult out = std::move(j.out);
  if (!j.ob->hold.empty()) out.action = Action::quarantine("backstop: " + j.ob->hold);
  std::string signed_from = "-";
  if (snap.batv_sign && !j.sender.empty()) {
    auto s = batv::sign(snap.keys, snap.signer, j.sender, e.clock().unix_day());
    if (s.status == batv::SignStatus::kSigned) {
      out.mods.push_back(Modification::change_from("<" + s.address + ">"));
      e.metrics().batv_signed();
      signed_from = s.address;
    }
  }
  bool queued = true;
  // Correspondents are best effort: a lost one only makes a later
  // autoreply to that address wait for another message.
  if (!j.sender.empty()) {
    std::string local = mail::ascii_lower(j.sender);
    for (const auto& r : j.rcpts) {
      if (snap.correlator->is_local(r)) continue;
      queued &= e.writer().enqueue(store::CorrespondentSeen{local, mail::ascii_lower(r), j.now});
    }
  }
  if (!queued) e.metrics().error("store");
  const std::string line = j.prefix + " role=outbound message_id=<" + j.id + "> signed=" + signed_from +
                           (j.envid.empty() ? "" : " envid=" + text::log_safe(j.envid));
  if (j.id.empty() || j.id.size() > store::kMaxMessageIdBytes) {  // nothing a bounce could quote
    e.metrics().message("outbound", "none", "ours", "accept");
    if (j.log) j.log(line);
    return done(std::move(out));
  }
  store::LedgerPut put{j.id, {j.now, j.sender, j.rcpts, j.envid}};
  if (put.entry.recipients.size() > store::kMaxLedgerRecipients) {
    put.entry.recipients.resize(store::kMaxLedgerRecipients);
  }
  // Runs on the writer thread; holds nothing of the connection.
  auto shared_done = std::make_shared<milter::DecideEom>(std::move(done));
  auto committed = [engine = &e, log = j.log, line, fail_open = snap.fail_open, shared_done, out = std::move(out),
                    start = j.start](const Status& st) mutable {
    engine->metrics().decision_latency(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (st) {
      engine->metrics().ledger_recorded();
      engine->metrics().message("outbound", "none", "ours", "accept");
      if (log) log(line);
      return (*shared_done)(std::move(out));
    }
    engine->metrics().ledger_failed();
    engine->metrics().error("store");
    auto d = policy::internal_failure("ledger record not committed: " + st.error().message(), fail_open);
    engine->metrics().message("outbound", "none", "ours", policy::action_name(d.action));
    if (log) log(line + " " + d.reason);
    if (d.action == policy::Action::kTempfail) {
      milter::EomResult refused;
      refused.action = Action::tempfail(451, d.reply.status, d.reply.text);
      return (*shared_done)(std::move(refused));
    }
    (*shared_done)(std::move(out));  // fail-open, as configured
  };
  if (!e.writer().enqueue(std::move(put), committed)) {
    // Refused (queue full, stopping): the same answer as a failed commit.
    committed(Status(fail(Code::kUnavailable, "store write queue full or stopping")));
  }
}

// The worker's part of outbound end of message: late limits, the gate's
// store half, then finish_outbound.
void outbound_on_worker(const std::shared_ptr<OutboundEom>& jp, milter::DecideEom done) {
  OutboundEom& j = *jp;
  if (j.late_limits) {
    if (auto refusal = late_limits(j)) {
      milter::EomResult out;
      out.action = *refusal;
      return done(std::move(out));
    }
  }
  if (j.gate) {
    auto g = gate_decide(*j.engine, *j.snap, *j.gate, j.client, j.rcpts, j.log, j.prefix);
    if (g.kind != GuardAnswer::Kind::kContinue && g.kind != GuardAnswer::Kind::kHold) {
      milter::EomResult out;
      out.action = guard_action(g);
      j.engine->metrics().message("outbound", "automated", "ours",
                                  g.kind == GuardAnswer::Kind::kDiscard ? "discard"
                                  : g.kind == GuardAnswer::Kind::kReject ? "reject" : "tempfail");
      return done(std::move(out));
    }
    if (g.kind == GuardAnswer::Kind::kHold && j.ob->hold.empty()) j.ob->hold = g.text;
  }
  finish_outbound(jp, std::move(done));
}

// Everything inbound end of message needs to answer a message once it is
// classified, copied from the connection: it may be finished on the judge
// worker after the connection went away.
struct InboundEom {
  Engine* engine = nullptr;
  std::shared_ptr<const Snapshot> snap;
  DecisionLog log;
  std::string prefix;  // log_prefix() of the message
  Role role = Role::kInbound;
  std::string sender;
  std::string client_ip;
  mail::Envelope env;
  std::shared_ptr<MailCheckResult> mail_check;
  std::vector<std::pair<std::string, std::string>> stripped;  // tagged -> plain, with <>
  std::chrono::steady_clock::time_point start;

  void note(std::string_view role_word, std::string_view what) const {
    if (log) log(prefix + " role=" + std::string(role_word) + " " + std::string(what));
  }
};

// The answer for a message that could not be judged: 451 4.3.0, or
// accepted unchanged under milter.on_error = "accept"; never 5xx. Counted
// (backstop_errors_total{where}, the message with kind "unknown") and logged.
milter::EomResult not_judged(const InboundEom& j, std::string_view where, const std::string& what) {
  milter::EomResult out;
  j.engine->metrics().error(where);
  auto d = policy::internal_failure(what, j.snap->fail_open);
  j.engine->metrics().message(role_name(j.role), "unknown", "unknown", policy::action_name(d.action));
  j.note(role_name(j.role), d.reason);
  if (d.action == policy::Action::kTempfail) {
    out.action = Action::tempfail(451, d.reply.status, d.reply.text);
  }
  return out;
}

// A message to a spamtrap: backscatter lists its sender's IP (through the
// state writer); the answer is the trap's (reject, or discard).
milter::EomResult trap(const InboundEom& j, const Judgement& judged, const std::string& kind) {
  Engine& e = *j.engine;
  milter::EomResult out;
  bool backscatter = judged.verdict.kind != classify::Kind::kNone;
  if (backscatter) {
    store::ListingHit hit;
    hit.ip = j.client_ip;
    hit.evidence = {kind, judged.verdict.refs.message_id, e.clock().now_unix()};
    if (auto mid = judged.headers.get("message-id")) hit.evidence.message_id = bracket_id(*mid);
    const std::int64_t when = hit.evidence.time;
    if (!e.writer().enqueue(std::move(hit))) e.metrics().error("store");
    // The evidence rides in the same writer; a lost one costs no mail.
    auto ip = ip::canonical(j.client_ip);
    if (ip && j.snap->trap_redactor && judged.parsed) {
      dnsbl::EvidenceEntry ev;
      ev.time = when;
      ev.kind = kind;
      ev.headers = dnsbl::evidence_headers(judged.headers, *j.snap->trap_redactor, &ev.truncated);
      if (!e.writer().enqueue(dnsbl::evidence_append(*ip, ev, j.snap->trap_policy, j.snap->trap_retention_days))) {
        e.metrics().error("store");
      }
    }
  }
  std::string action = j.snap->trap_discard ? "discard" : "reject";
  out.action = j.snap->trap_discard ? Action::discard() : Action::reject(550, "5.7.1", "Mailbox unavailable");
  e.metrics().message("trap", backscatter ? kind : "spam", "unknown", action);
  j.note("trap", "kind=" + kind + " listed_ip=" + (backscatter ? j.client_ip : "-") + " action=" + action);
  return out;
}

// Finishes judging a classified inbound (or trap) message (correlation,
// which may read the store, and policy) and makes the MTA's answer. Runs on
// the event loop, or on the judge worker. Every failure (the store, an
// exception) is that message's 451 (or fail-open), never 5xx.
// The judgement `decide()` gives (Result<Judgement>), as the milter's answer.
template <class DecideFn>
milter::EomResult judge_inbound_with(const InboundEom& j, DecideFn&& decide) {
  Engine& e = *j.engine;
  const Snapshot& snap = *j.snap;
  milter::EomResult out;
  try {
    auto judged = decide();
    if (!judged) return not_judged(j, failure_place(judged.error()), judged.error().message());
    std::string kind(classify::kind_name(judged->verdict.kind));
    if (j.role == Role::kTrap) return trap(j, *judged, kind);
    const bool dnsbl_tag = j.mail_check && !j.mail_check->header_name.empty();
    if (judged->parsed) {
      remember_inbound(e, snap, judged->headers, j.sender, j.env.rcpts,
                       judged->verdict.kind != classify::Kind::kNone, dnsbl_tag);
    }
    const auto& d = judged->decision;
    switch (d.action) {
      case policy::Action::kAccept:
        break;
      case policy::Action::kTag:
        out.mods.push_back(Modification::add_header(d.header_name, d.header_value));
        break;
      case policy::Action::kQuarantine:
        out.mods.push_back(Modification::add_header(d.header_name, d.header_value));
        out.action = Action::quarantine("backstop: " + kind);
        break;
      case policy::Action::kReject:
        out.action = Action::reject(550, d.reply.status, d.reply.text);
        break;
      case policy::Action::kTempfail:
        out.action = Action::tempfail(451, d.reply.status, d.reply.text);
        break;
    }
    if (dnsbl_tag) {
      out.mods.push_back(Modification::add_header(j.mail_check->header_name, j.mail_check->header_value));
    }
    if (out.action.kind == Action::Kind::kContinue || out.action.kind == Action::Kind::kQuarantine) {
      // Deliver to the untagged address: no recipient map needed in the MTA.
      for (const auto& [tagged, plain] : j.stripped) {
        out.mods.push_back(Modification::delete_rcpt(tagged));
        out.mods.push_back(Modification::add_rcpt(plain));
      }
    }
    e.metrics().message(role_name(j.role), kind, correlate::verdict_name(judged->outcome.verdict),
                        policy::action_name(d.action));
    for (const auto& ev : judged->outcome.evidence) {
      e.metrics().evidence(ev.source, correlate::verdict_name(ev.points_to));
    }
    j.note(role_name(j.role), summary(*judged));
    return out;
  } catch (const std::exception& ex) {
    // A bug or an allocation failure while judging costs this message a
    // 451 (or fail-open), not the connection and every message after it.
    return not_judged(j, "internal", std::string("exception while judging: ") + ex.what());
  }
}

milter::EomResult judge_inbound(const InboundEom& j, Classified c) {
  return judge_inbound_with(j, [&] { return j.snap->judge->decide(std::move(c), j.env); });
}

// The same with the store's reads made by the caller (the loop's).
milter::EomResult judge_inbound(const InboundEom& j, Classified c, correlate::Correlator::Plan plan,
                                Result<store::ReadBatchResult> found) {
  return judge_inbound_with(
      j, [&] { return j.snap->judge->decide(std::move(c), j.env, std::move(plan), std::move(found)); });
}

class Handler final : public milter::Handler {
 public:
  Handler(Engine* engine, const DecisionLog* log, DnsblService* dnsbl)
      : engine_(engine), log_(log), dnsbl_(dnsbl) {
    engine_->metrics().connection_opened();
  }
  ~Handler() override { engine_->metrics().connection_closed(); }

  void on_mail(const milter::Context& ctx, milter::Decide done) override {
    begin(ctx);
    if (role_ == Role::kOutbound) return limits(ctx, true, false, std::move(done));
    if (role_ == Role::kInbound && dnsbl_) {
      // The result outlives this handler if the connection goes away first.
      std::string line = log_prefix(ctx) + " role=dnsbl action=reject ";
      dnsbl_->check(ctx.conn.address, sender_,
                    [slot = mail_check_, done = std::move(done), log = *log_, line](MailCheckResult r) {
                      *slot = std::move(r);
                      if (slot->reject) {
                        if (log) log(line + slot->reply_code + " " + slot->status_code + " " + slot->text);
                        done(Action::reject(554, slot->status_code, slot->text));
                      } else {
                        done(Action::cont());
                      }
                    });
      return;
    }
    done(Action::cont());
  }

  // MAIL no-reply: the message is judged under the configuration in force
  // when its MAIL reached us, even if a reload comes before the first
  // answered event (RCPT, or the end of message). (Postfix sends buffered
  // no-reply events with the next one it waits on.)
  void on_mail_noreply(const milter::Context&) override { pinned_ = engine_->snapshot(); }

  void on_rcpt(const milter::Context& ctx, const milter::Recipient& r, milter::Decide done) override {
    if (!begun_) begin(ctx);
    rcpts_seen_ = true;
    // MAIL negotiated no-reply: the message limits run with the first
    // recipient's, and a refusal of the message is given to each recipient.
    if (role_ == Role::kOutbound) return limits(ctx, !ob_->mail_limited, true, std::move(done));
    done(rcpt(ctx, r.address));
  }

  void on_eom(const milter::Context& ctx, milter::DecideEom done) override {
    if (!begun_) begin(ctx);
    if (!rcpts_seen_ && role_ != Role::kOutbound) {
      // RCPT was negotiated no-reply (needs(): nothing refused there when the
      // session began): what it would have noted (traps, valid BATV tags to
      // strip, the BATV metrics) is noted now. If a refusal comes up after
      // all (a reload turned BATV enforcement or the outbound limits on while
      // this SMTP session was open), it refuses the whole message: with its
      // answer when every recipient is refused, else with 451 so that the
      // client retries and the next session sorts the recipients at RCPT.
      if (auto refusal = late_refusal(ctx)) {
        milter::EomResult out;
        out.action = *refusal;
        end();
        return done(std::move(out));
      }
    }
    auto start = std::chrono::steady_clock::now();
    if (role_ == Role::kOutbound) {
      // Answered once the ledger record is committed (finish_outbound()).
      // An exception (a bug, no memory) costs this message a 451 (or
      // fail-open), not the connection.
      auto shared = std::make_shared<milter::DecideEom>(std::move(done));
      try {
        outbound(ctx, [shared](milter::EomResult r) { (*shared)(std::move(r)); });
      } catch (const std::exception& e) {
        engine_->metrics().error("internal");
        log(ctx, "outbound", std::string("error=\"exception: ") + e.what() + "\"");
        milter::EomResult out;
        out.action = failure_action(*snap_, e.what());
        (*shared)(std::move(out));
      }
      end();
      return;
    }
    auto j = std::make_shared<InboundEom>();
    j->engine = engine_;
    j->snap = snap_;
    j->log = *log_;
    j->prefix = log_prefix(ctx);
    j->role = role_;
    j->sender = sender_;
    j->client_ip = ctx.conn.address;
    j->env = envelope(ctx);
    j->mail_check = mail_check_;
    j->stripped = std::move(stripped_);
    stripped_.clear();
    j->start = start;
    end();
    auto answer = [](const InboundEom& job, milter::EomResult result, milter::DecideEom& decide) {
      job.engine->metrics().decision_latency(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - job.start).count());
      decide(std::move(result));
    };
    // Classification is CPU work, done here; what reads the store follows
    // here too, unless the store is remote (the judge worker).
    Result<Classified> c = fail(Code::kInternal, "not classified");
    try {
      c = j->snap->judge->classify(header_fields(ctx), ctx.msg.body, j->env);
    } catch (const std::exception& e) {
      return answer(*j, not_judged(*j, "internal", std::string("exception while judging: ") + e.what()), done);
    }
    if (!c) return answer(*j, not_judged(*j, failure_place(c.error()), c.error().message()), done);
    common::Worker* judges = engine_->judge_worker();
    if (!judges || !c->needs_store()) return answer(*j, judge_inbound(*j, std::move(*c)), done);
    auto shared_done = std::make_shared<milter::DecideEom>(std::move(done));
    auto classified = std::make_shared<Classified>(std::move(*c));
    if (store::AsyncReads* reads = t_loop_reads) {
      // The store's reads on this loop's own connection: no thread switch.
      auto plan = std::make_shared<correlate::Correlator::Plan>(j->snap->judge->plan(*classified, j->env));
      if (!plan->reads()) {
        return answer(*j, judge_inbound(*j, std::move(*classified), std::move(*plan), store::ReadBatchResult{}),
                      *shared_done);
      }
      if (plan->batch.count() <= store::kMaxBatchReads) {
        store::ReadBatch batch = plan->batch;
        reads->start(std::move(batch), [j, classified, plan, shared_done, answer](Result<store::ReadBatchResult> r) {
          answer(*j, judge_inbound(*j, std::move(*classified), std::move(*plan), std::move(r)), *shared_done);
        });
        return;
      }
      // Larger batches (a mass bounce) are read in pieces on the worker.
    }
    if (!judges->post([j, classified, shared_done, answer] {
          answer(*j, judge_inbound(*j, std::move(*classified)), *shared_done);
        })) {
      answer(*j, not_judged(*j, "worker", "judge worker queue full or stopping"), *shared_done);
    }
  }

  void on_abort(const milter::Context&) override {
    end();
    pinned_.reset();
    stripped_.clear();
    role_ = Role::kInbound;
  }

 private:
  // What MAIL FROM establishes for the message: the configuration snapshot it
  // is judged under, the sender, the role, the client and, for outbound mail,
  // whether its limits ran (ob_). Runs at MAIL, or at the first
  // RCPT when MAIL was negotiated no-reply.
  void begin(const milter::Context& ctx) {
    snap_ = pinned_ ? std::move(pinned_) : engine_->snapshot();
    pinned_.reset();
    begun_ = true;
    rcpts_seen_ = false;
    stripped_.clear();
    sender_ = path_address(ctx.msg.sender);
    role_ = Role::kInbound;
    auto authen = ctx.macros.get("{auth_authen}");
    auto daemon = ctx.macros.get("{daemon_name}");
    if (authen && !authen->empty()) {
      role_ = Role::kOutbound;
    } else if (daemon) {
      for (const auto& n : snap_->daemon_names) {
        if (*daemon == n) role_ = Role::kOutbound;
      }
    }
    if (role_ == Role::kInbound && snap_->is_outbound_ip(ctx.conn.address)) role_ = Role::kOutbound;
    mail_check_ = std::make_shared<MailCheckResult>();
    client_ = {authen ? std::string(*authen) : std::string(), ctx.conn.address, sender_};
    ob_ = std::make_shared<OutboundState>();
  }

  bool limits_on() const { return snap_->limiter && snap_->limiter->enabled(); }

  // The outbound limits at MAIL (`message`) and/or RCPT (`recipient`), run
  // on the engine's worker: no event loop waits on the store. A refusal of
  // the message is the answer to each of its recipients.
  void limits(const milter::Context& ctx, bool message, bool recipient, milter::Decide done) {
    if (!limits_on()) return done(Action::cont());
    if (!message && ob_->mail_answer.kind != Action::Kind::kContinue) return done(ob_->mail_answer);
    if (message) ob_->mail_limited = true;
    auto shared_done = std::make_shared<milter::Decide>(std::move(done));
    auto failed = [shared_done, snap = snap_](std::string_view why) { (*shared_done)(failure_action(*snap, why)); };
    off_loop(
        *engine_,
        [engine = engine_, snap = snap_, client = client_, log = *log_, prefix = log_prefix(ctx), ob = ob_, message,
         recipient, shared_done]() {
          if (message) {
            auto a = limit_message(*engine, *snap, client, log, prefix);
            if (a.kind == GuardAnswer::Kind::kHold) ob->hold = a.text;
            ob->mail_answer = guard_action(a);
            if (!recipient || ob->mail_answer.kind != Action::Kind::kContinue) return (*shared_done)(ob->mail_answer);
          }
          auto a = limit_recipients(*engine, *snap, client, 1, log, prefix);
          if (a.kind == GuardAnswer::Kind::kHold) ob->hold = a.text;
          (*shared_done)(guard_action(a));
        },
        failed);
  }

  // The inbound message's refusal when RCPT was no-reply, or nullopt to go
  // on. (Outbound mail: late_limits() on the worker.)
  std::optional<Action> late_refusal(const milter::Context& ctx) {
    std::optional<Action> out;
    std::size_t refused = 0;
    for (const auto& r : ctx.msg.rcpts) {
      Action a = rcpt(ctx, r.address);
      if (a.kind == Action::Kind::kContinue) continue;
      if (!out) out = a;
      ++refused;
    }
    if (!out) return std::nullopt;
    if (refused < ctx.msg.rcpts.size()) {
      out = Action::tempfail(451, "4.7.1", "some recipients must be checked again, try again later");
    }
    const char* action = out->kind == Action::Kind::kTempfail  ? "tempfail"
                         : out->kind == Action::Kind::kDiscard ? "discard"
                                                               : "reject";
    engine_->metrics().message(role_name(role_), "unknown", "unknown", action);
    log(ctx, role_name(role_),
        "late_rcpt_refusal=" + std::to_string(refused) + "/" + std::to_string(ctx.msg.rcpts.size()) +
            " action=" + action);
    return out;
  }

  void end() {
    snap_.reset();
    begun_ = false;
    rcpts_seen_ = false;
  }

  // One inbound recipient: traps and BATV (check_rcpt). Also answers for
  // recipients of RCPT no-reply at end of message (late_refusal()).
  Action rcpt(const milter::Context& ctx, const std::string& address) {
    const auto c = check_rcpt(*engine_, *snap_, sender_, path_address(address),
                              [&](std::string_view line) { log_line(ctx, line); });
    switch (c.kind) {
      case RcptCheck::Kind::kTrap:
        role_ = Role::kTrap;
        break;
      case RcptCheck::Kind::kAccept:
        stripped_.push_back({address, "<" + c.untagged + ">"});
        break;
      case RcptCheck::Kind::kReject:
        return Action::reject(c.code, c.status, c.text);
      case RcptCheck::Kind::kUnchecked:
      case RcptCheck::Kind::kRecord:
        break;
    }
    return Action::cont();
  }

  // The header fields as the MTA sent them, for mail::parse_message with the
  // kept body: views into ctx.msg, valid while it is.
  static std::vector<mail::FieldView> header_fields(const milter::Context& ctx) {
    std::vector<mail::FieldView> fields;
    fields.reserve(ctx.msg.headers.size());
    for (const auto& h : ctx.msg.headers) fields.push_back({h.name, h.value});
    return fields;
  }

  mail::Envelope envelope(const milter::Context& ctx) const {
    mail::Envelope env;
    env.known = true;
    env.mail_from = sender_;
    for (const auto& r : ctx.msg.rcpts) env.rcpts.push_back(path_address(r.address));
    env.client_ip = ctx.conn.address;
    return env;
  }

  static std::optional<std::string_view> find_header(const milter::Context& ctx, std::string_view name) {
    for (const auto& h : ctx.msg.headers) {
      if (mail::iequals(h.name, name)) return std::string_view(h.value);
    }
    return std::nullopt;
  }

  // Outbound end of message: the gate's CPU half here, then what needs the
  // store (late limits, the gate's store half) on the worker, then
  // finish_outbound(), which answers once the ledger record is committed.
  void outbound(const milter::Context& ctx, milter::DecideEom done) {
    auto j = std::make_shared<OutboundEom>();
    j->engine = engine_;
    j->snap = snap_;
    j->log = *log_;
    j->prefix = log_prefix(ctx);
    j->ob = ob_;
    j->client = client_;
    j->sender = sender_;
    j->now = engine_->clock().now_unix();
    j->start = std::chrono::steady_clock::now();
    if (auto mid = find_header(ctx, "Message-ID")) {
      j->id = bracket_id(*mid);
    } else {
      auto host = ctx.macros.get("j");
      j->id = new_message_id(host ? *host : std::string_view{});
      j->out.mods.push_back(Modification::add_header("Message-ID", "<" + j->id + ">"));
    }
    for (const auto& r : ctx.msg.rcpts) j->rcpts.push_back(path_address(r.address));
    // RFC 3461 ENVID: a DSN names it in Original-Envelope-Id (a bad one is
    // not recorded; the MTA judges whether to accept it).
    for (const auto& a : ctx.msg.mail_args) {
      if (auto e = mail::envid_parameter(a)) j->envid = std::move(*e);
    }
    j->late_limits = !rcpts_seen_ && limits_on();
    j->gate = gate_classify(*snap_, header_fields(ctx), ctx.msg.body, client_, j->rcpts);
    if (!j->late_limits && !j->gate) return finish_outbound(j, std::move(done));
    auto shared_done = std::make_shared<milter::DecideEom>(std::move(done));
    off_loop(
        *engine_, [j, shared_done] { outbound_on_worker(j, [shared_done](milter::EomResult r) { (*shared_done)(std::move(r)); }); },
        [shared_done, snap = snap_, engine = engine_](std::string_view why) {
          engine->metrics().message("outbound", "unknown", "ours", snap->fail_open ? "accept" : "tempfail");
          milter::EomResult out;
          out.action = failure_action(*snap, why);
          (*shared_done)(std::move(out));
        });
  }

  // "queue_id=... client=... from=<...> to=..." for a decision log line.
  std::string log_prefix(const milter::Context& ctx) const {
    auto qid = ctx.macros.get("i");
    std::string line = "queue_id=" + std::string(qid ? *qid : "-") + " client=" +
                       (ctx.conn.address.empty() ? "-" : ctx.conn.address) + " from=<" + sender_ +
                       "> to=";
    for (std::size_t i = 0; i < ctx.msg.rcpts.size(); ++i) {
      line += (i ? "," : "") + ctx.msg.rcpts[i].address;
    }
    return line;
  }

  void log(const milter::Context& ctx, std::string_view role, std::string_view what) const {
    if (*log_) log_line(ctx, "role=" + std::string(role) + " " + std::string(what));
  }
  // `line` ("role=... ...") after the connection's fields.
  void log_line(const milter::Context& ctx, std::string_view line) const {
    if (!*log_) return;
    (*log_)(log_prefix(ctx) + " " + std::string(line));
  }

  Engine* engine_;
  const DecisionLog* log_;
  DnsblService* dnsbl_;
  std::shared_ptr<MailCheckResult> mail_check_;  // written by the DNSBL thread before done()
  std::shared_ptr<const Snapshot> snap_;
  std::shared_ptr<const Snapshot> pinned_;  // taken at a no-reply MAIL, used by begin()
  Role role_ = Role::kInbound;
  std::string sender_;
  outbound::Client client_;  // for the outbound limits and gate
  std::shared_ptr<OutboundState> ob_;  // the limits' answers for the current outbound message
  std::vector<std::pair<std::string, std::string>> stripped_;  // tagged -> plain, with <>
  bool begun_ = false;       // begin() ran for the current message
  bool rcpts_seen_ = false;  // on_rcpt ran for the current message's recipients
};

}  // namespace

std::string path_address(std::string_view path) {
  auto t = text::strip_brackets(text::trim(path));
  auto colon = t.find(':');
  if (!t.empty() && t.front() == '@' && colon != std::string_view::npos) t = t.substr(colon + 1);
  return std::string(t);
}

BackstopFilter::BackstopFilter(Engine* engine, DecisionLog log, DnsblService* dnsbl)
    : engine_(engine), log_(std::move(log)), dnsbl_(dnsbl) {}

milter::Needs BackstopFilter::needs() const {
  milter::Needs n;
  // An event is answered only when something can refuse there; otherwise
  // the MTA is told not to wait (SMFIP_NR_*: one round trip fewer per
  // message each) and the work moves to the next answered event.
  // MAIL: DNSBL zones (a listed client's null-sender MAIL; the service exists
  // from the start or not at all) or outbound limits (the message limits).
  // What MAIL establishes is then done at the first RCPT, or at end of message.
  // RCPT: BATV enforcement past its grace period, or outbound limits (the
  // recipient limits). With neither (BATV `tag`, the default), RCPT's work is
  // done at end of message. The mask holds for the whole SMTP session: if a
  // reload turns either on while it is open, a refusal found at end of
  // message refuses the message (late_refusal()).
  auto snap = engine_->snapshot();
  const bool limits = snap->limiter && snap->limiter->enabled();
  const bool batv_enforce = snap->batv_mode == BatvMode::kEnforce &&
                            engine_->clock().now_unix() >= snap->batv_enforce_from;
  n.decide_mail = dnsbl_ != nullptr || limits;
  n.decide_rcpt = batv_enforce || limits;
  n.want_helo = false;  // nothing here uses the HELO name (SMFIP_NOHELO)
  n.want_headers = true;
  n.want_body = true;
  n.actions = milter::act::kAddHdrs | milter::act::kAddRcpt | milter::act::kDelRcpt |
              milter::act::kQuarantine | milter::act::kChgFrom;
  // SMFIM_* stages: 0 connect, 1 helo, 2 mail, 3 rcpt, 4 data, 5 eom, 6 eoh.
  n.macros[2] = "i {auth_authen} {daemon_name} {mail_addr}";
  n.macros[5] = "i j";
  return n;
}

std::unique_ptr<milter::Handler> BackstopFilter::open() {
  return std::make_unique<Handler>(engine_, &log_, dnsbl_);
}

void set_thread_loop_reads(store::AsyncReads* reads) noexcept { t_loop_reads = reads; }

}  // namespace backstop::daemon
