#include "daemon/milter_filter.h"

#include "daemon/outbound_guard.h"
#include "daemon/rcpt_check.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <vector>

#include "common/random.h"
#include "common/text.h"
#include "mail/header.h"
#include "milter/protocol.h"

namespace backstop::daemon {
namespace {

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

class Handler final : public milter::Handler {
 public:
  Handler(Engine* engine, const DecisionLog* log, DnsblService* dnsbl)
      : engine_(engine), log_(log), dnsbl_(dnsbl) {
    engine_->metrics().connection_opened();
  }
  ~Handler() override { engine_->metrics().connection_closed(); }

  void on_mail(const milter::Context& ctx, milter::Decide done) override {
    begin(ctx);
    if (role_ == Role::kOutbound) return done(mail_answer_);
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
    // MAIL negotiated no-reply: a refusal of the message by the outbound
    // limits is given to each of its recipients instead.
    if (mail_answer_.kind != Action::Kind::kContinue) return done(mail_answer_);
    done(rcpt(ctx, r.address));
  }

  void on_eom(const milter::Context& ctx, milter::DecideEom done) override {
    if (!begun_) begin(ctx);
    if (!rcpts_seen_) {
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
      // Answered once the ledger record is committed (see outbound()).
      outbound(ctx, std::move(done));
      end();
      return;
    }
    milter::EomResult result;
    try {
      result = judge(ctx);
    } catch (const std::exception& e) {
      // A bug or an allocation failure while judging costs this message a
      // 451 (or fail-open), not the connection and every message after it.
      result = not_judged(ctx, "internal", std::string("exception while judging: ") + e.what());
    }
    engine_->metrics().decision_latency(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    end();
    done(std::move(result));
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
  // the message limits' answer (mail_answer_). Runs at MAIL, or at the first
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
    hold_.clear();
    client_ = {authen ? std::string(*authen) : std::string(), ctx.conn.address, sender_};
    mail_answer_ = Action::cont();
    if (role_ == Role::kOutbound) {
      auto a = limit_message(*engine_, *snap_, client_, *log_, log_prefix(ctx));
      if (a.kind == GuardAnswer::Kind::kHold) hold_ = a.text;
      mail_answer_ = guard_action(a);
    }
  }

  // The message's refusal when RCPT was no-reply, or nullopt to go on.
  std::optional<Action> late_refusal(const milter::Context& ctx) {
    std::optional<Action> out;
    std::size_t refused = 0;
    if (mail_answer_.kind != Action::Kind::kContinue) {
      out = mail_answer_;  // the outbound message limits refuse it all
      refused = ctx.msg.rcpts.size();
    } else {
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

  // One recipient: the outbound limits for outbound mail, else traps and
  // BATV (check_rcpt). Also answers for recipients of RCPT no-reply at end
  // of message (late_refusal()).
  Action rcpt(const milter::Context& ctx, const std::string& address) {
    if (role_ == Role::kOutbound) {
      auto a = limit_recipients(*engine_, *snap_, client_, 1, *log_, log_prefix(ctx));
      if (a.kind == GuardAnswer::Kind::kHold) hold_ = a.text;
      return guard_action(a);
    }
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

  // The answer for a message that could not be judged: 451 4.3.0, or
  // accepted unchanged under milter.on_error = "accept"; never 5xx. Counted
  // (backstop_errors_total{where}, the message with kind "unknown") and logged.
  milter::EomResult not_judged(const milter::Context& ctx, std::string_view where, const std::string& what) {
    milter::EomResult out;
    engine_->metrics().error(where);
    auto d = policy::internal_failure(what, snap_->fail_open);
    engine_->metrics().message(role_name(role_), "unknown", "unknown", policy::action_name(d.action));
    log(ctx, role_name(role_), d.reason);
    if (d.action == policy::Action::kTempfail) {
      out.action = Action::tempfail(451, d.reply.status, d.reply.text);
    }
    return out;
  }

  milter::EomResult judge(const milter::Context& ctx) {
    milter::EomResult out;
    auto env = envelope(ctx);
    auto j = snap_->judge->judge(header_fields(ctx), ctx.msg.body, env);
    if (!j) return not_judged(ctx, failure_place(j.error()), j.error().message());
    std::string kind(classify::kind_name(j->verdict.kind));
    if (role_ == Role::kTrap) return trap(ctx, *j, kind);
    if (j->parsed) {
      remember_inbound(*engine_, *snap_, j->headers, sender_, env.rcpts, j->verdict.kind != classify::Kind::kNone,
                       mail_check_ && !mail_check_->header_name.empty());
    }

    const auto& d = j->decision;
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
    if (mail_check_ && !mail_check_->header_name.empty()) {
      out.mods.push_back(Modification::add_header(mail_check_->header_name, mail_check_->header_value));
    }
    if (out.action.kind == Action::Kind::kContinue || out.action.kind == Action::Kind::kQuarantine) {
      // Deliver to the untagged address: no recipient map needed in the MTA.
      for (const auto& [tagged, plain] : stripped_) {
        out.mods.push_back(Modification::delete_rcpt(tagged));
        out.mods.push_back(Modification::add_rcpt(plain));
      }
    }
    engine_->metrics().message(role_name(role_), kind, correlate::verdict_name(j->outcome.verdict),
                               policy::action_name(d.action));
    log(ctx, role_name(role_), summary(*j));
    return out;
  }

  milter::EomResult trap(const milter::Context& ctx, const Judgement& j, const std::string& kind) {
    milter::EomResult out;
    bool backscatter = j.verdict.kind != classify::Kind::kNone;
    if (backscatter) {
      store::ListingHit hit;
      hit.ip = ctx.conn.address;
      hit.evidence = {kind, j.verdict.refs.message_id, engine_->clock().now_unix()};
      if (auto mid = find_header(ctx, "Message-ID")) hit.evidence.message_id = bracket_id(*mid);
      if (!engine_->writer().enqueue(std::move(hit))) engine_->metrics().error("store");
    }
    std::string action = snap_->trap_discard ? "discard" : "reject";
    out.action = snap_->trap_discard ? Action::discard()
                                     : Action::reject(550, "5.7.1", "Mailbox unavailable");
    engine_->metrics().message("trap", backscatter ? kind : "spam", "unknown", action);
    log(ctx, "trap", "kind=" + kind + " listed_ip=" + (backscatter ? ctx.conn.address : "-") +
                         " action=" + action);
    return out;
  }

  static std::optional<std::string_view> find_header(const milter::Context& ctx, std::string_view name) {
    for (const auto& h : ctx.msg.headers) {
      if (mail::iequals(h.name, name)) return std::string_view(h.value);
    }
    return std::nullopt;
  }

  // Outbound end of message. The MTA is answered only after the message's
  // ledger record is committed (group commit with every other message in
  // flight): a real bounce of a message we acknowledged must find its record,
  // even after a crash. If the commit fails for good, the message gets
  // 451 4.3.0 (or passes under milter.on_error = "accept") instead of an
  // acknowledgement whose record is missing. `done` may be called on the
  // store writer's thread.
  void outbound(const milter::Context& ctx, milter::DecideEom done) {
    milter::EomResult out;
    std::int64_t now = engine_->clock().now_unix();
    std::string id;
    if (auto mid = find_header(ctx, "Message-ID")) {
      id = bracket_id(*mid);
    } else {
      auto host = ctx.macros.get("j");
      id = new_message_id(host ? *host : std::string_view{});
      out.mods.push_back(Modification::add_header("Message-ID", "<" + id + ">"));
    }
    std::vector<std::string> rcpts;
    for (const auto& r : ctx.msg.rcpts) rcpts.push_back(path_address(r.address));
    auto gate = gate_message(*engine_, *snap_, header_fields(ctx), ctx.msg.body, client_, rcpts, *log_,
                             log_prefix(ctx));
    if (gate.kind != GuardAnswer::Kind::kContinue && gate.kind != GuardAnswer::Kind::kHold) {
      out.mods.clear();
      out.action = guard_action(gate);
      engine_->metrics().message("outbound", "automated", "ours",
                                 gate.kind == GuardAnswer::Kind::kDiscard ? "discard"
                                 : gate.kind == GuardAnswer::Kind::kReject ? "reject" : "tempfail");
      return done(std::move(out));
    }
    if (gate.kind == GuardAnswer::Kind::kHold && hold_.empty()) hold_ = gate.text;
    if (!hold_.empty()) out.action = Action::quarantine("backstop: " + hold_);
    std::string signed_from = "-";
    if (snap_->batv_sign && !sender_.empty()) {
      auto s = batv::sign(snap_->keys, snap_->signer, sender_, engine_->clock().unix_day());
      if (s.status == batv::SignStatus::kSigned) {
        out.mods.push_back(Modification::change_from("<" + s.address + ">"));
        engine_->metrics().batv_signed();
        signed_from = s.address;
      }
    }
    bool queued = true;
    // Correspondents are best effort: a lost one only makes a later
    // autoreply to that address wait for another message.
    if (!sender_.empty()) {
      std::string local = mail::ascii_lower(sender_);
      for (const auto& r : rcpts) {
        if (snap_->correlator->is_local(r)) continue;
        queued &= engine_->writer().enqueue(store::CorrespondentSeen{local, mail::ascii_lower(r), now});
      }
    }
    if (!queued) engine_->metrics().error("store");
    const std::string line = log_prefix(ctx) + " role=outbound message_id=<" + id + "> signed=" + signed_from;
    if (id.empty() || id.size() > store::kMaxMessageIdBytes) {  // nothing a bounce could quote
      engine_->metrics().message("outbound", "none", "ours", "accept");
      if (*log_) (*log_)(line);
      return done(std::move(out));
    }
    store::LedgerPut put{id, {now, sender_, rcpts}};
    if (put.entry.recipients.size() > store::kMaxLedgerRecipients) {
      put.entry.recipients.resize(store::kMaxLedgerRecipients);
    }
    // Runs on the writer thread; holds nothing of this handler, which may be
    // gone by then (the connection closed).
    auto shared_done = std::make_shared<milter::DecideEom>(std::move(done));
    auto committed = [engine = engine_, log = *log_, line, fail_open = snap_->fail_open, shared_done,
                      out = std::move(out), start = std::chrono::steady_clock::now()](const Status& st) mutable {
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
    if (!engine_->writer().enqueue(std::move(put), committed)) {
      // Refused (queue full, stopping): the same answer as a failed commit.
      committed(Status(fail(Code::kUnavailable, "store write queue full or stopping")));
    }
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
  std::string hold_;         // why to hold the message (a limit or the gate said hold), or empty
  std::vector<std::pair<std::string, std::string>> stripped_;  // tagged -> plain, with <>
  Action mail_answer_;       // the outbound limits' answer to this message's MAIL
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

}  // namespace backstop::daemon
