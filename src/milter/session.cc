#include "milter/session.h"

#include <algorithm>
#include <utility>

namespace backstop::milter {

// A decision handed to the Handler. `state`: 0 = callback still running,
// 1 = completed, 2 = the session went asynchronous (completion must post).
struct Session::Slot {
  std::atomic<int> state{0};
  std::atomic<bool> called{false};
  Action action;
  EomResult eom;
};

namespace {
constexpr int kInCallback = 0, kDone = 1, kAsync = 2;
// Header fields reserved for at the first one (a real message has 10-40).
constexpr std::size_t kTypicalHeaderCount = 48;

void drop_leading_bracket_args(std::vector<std::string>& v, std::string& first) {
  first = std::move(v.front());
  v.erase(v.begin());
}
}  // namespace

std::shared_ptr<Session> Session::create(Filter& filter, SessionConfig cfg, Post post) {
  return std::shared_ptr<Session>(new Session(filter, cfg, std::move(post)));
}

Session::Session(Filter& filter, SessionConfig cfg, Post post)
    : filter_(filter),
      cfg_(cfg),
      post_(std::make_shared<const Post>(std::move(post))),
      needs_(filter.needs()) {}

Session::~Session() = default;

void Session::feed(std::string_view bytes) {
  if (closed_) return;
  decoder_.feed(bytes);
  pump();
}

void Session::pump() {
  if (in_pump_) return;  // a synchronous completion re-entered; the outer loop continues
  in_pump_ = true;
  while (!waiting_ && !closed_) {
    auto next = decoder_.next();
    if (!next) {
      protocol_error(std::move(next).error());
      break;
    }
    if (!next->has_value()) break;
    handle(**next);
  }
  in_pump_ = false;
}

void Session::protocol_error(Error e) {
  error_ = std::move(e);
  shutdown();
}

void Session::shutdown() {
  if (closed_) return;
  closed_ = true;
  close_handler();
}

void Session::open_handler() {
  if (!handler_) handler_ = filter_.open();
}

void Session::close_handler() {
  if (handler_) {
    handler_->on_close(ctx());
    handler_.reset();
  }
}

void Session::reply(char code) {
  auto st = encode(Response{Simple{code}}, out_);
  BACKSTOP_INVARIANT(st.has_value());
}

void Session::send_progress() {
  if (waiting_ && (pending_event_ == Event::kEom || cfg_.progress_before_eom))
    reply(rsp::kProgress);
}

void Session::end_message() {
  msg_ = MessageInfo{};
  message_open_ = false;
  message_decided_ = false;
  quarantine_.reset();
  header_bytes_ = 0;
  macros_.clear_message_stages();
}

void Session::negotiate(const OptNeg& o) {
  if (o.version < kMinVersion) {
    protocol_error(Error(Code::kProtocol, "MTA milter version " + std::to_string(o.version) +
                                              " is older than " + std::to_string(kMinVersion)));
    return;
  }
  const Needs& n = needs_;
  std::uint32_t want = proto::kNoUnknown | proto::kNoData;
  if (!n.decide_connect) want |= proto::kNrConn;
  if (!n.want_helo && !n.decide_helo) {
    want |= proto::kNoHelo;
  } else if (!n.decide_helo) {
    want |= proto::kNrHelo;
  }
  if (!n.decide_mail) want |= proto::kNrMail;
  if (!n.decide_rcpt) want |= proto::kNrRcpt;
  if (!n.want_headers) {
    want |= proto::kNoHdrs;
  } else if (!n.decide_header) {
    want |= proto::kNrHdr;
  }
  if (!n.decide_eoh) want |= proto::kNoEoh | proto::kNrEoh;
  if (!n.want_body) {
    want |= proto::kNoBody;
  } else if (!n.decide_body) {
    want |= proto::kNrBody;
  } else {
    want |= proto::kSkip;  // lets us stop the chunks once max_body is stored
  }
  OptNegReply r;
  r.version = std::min(o.version, kVersion);
  r.actions = n.actions & o.actions & ~act::kSetSymList;
  r.protocol = want & o.protocol;
  bool any_macros = false;
  for (const auto& m : n.macros) any_macros = any_macros || !m.empty();
  if (any_macros && (o.actions & act::kSetSymList) && r.version >= 6) {
    r.actions |= act::kSetSymList;
    for (std::uint32_t i = 0; i < kMacroStageCount; ++i)
      if (!n.macros[i].empty()) r.symlists.push_back(SymList{static_cast<MacroStage>(i), n.macros[i]});
  }
  auto st = encode(Response{r}, out_);
  if (!st) {
    protocol_error(Error(Code::kInternal, "cannot encode OPTNEG reply: " + st.error().message()));
    return;
  }
  actions_ = r.actions;
  protocol_ = r.protocol;
  negotiated_ = true;
  open_handler();
}

void Session::handle(Command& c) {
  if (!negotiated_ && !std::holds_alternative<OptNeg>(c)) {
    protocol_error(Error(Code::kProtocol, std::string("milter command '") + command_code(c) +
                                              "' before OPTNEG"));
    return;
  }
  std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, OptNeg>) {
          if (handler_) close_handler();
          conn_ = ConnectionInfo{};
          macros_.clear();
          end_message();
          session_decided_ = false;
          negotiate(x);
        } else if constexpr (std::is_same_v<T, MacroDef>) {
          macros_.set_stage(x.stage, std::move(x.pairs));
        } else if constexpr (std::is_same_v<T, Connect>) {
          conn_.hostname = std::move(x.hostname);
          conn_.family = x.family;
          conn_.port = x.port;
          conn_.address = std::move(x.address);
          if (nr(proto::kNrConn)) return;
          if (needs_.decide_connect) return decide(Event::kConnect);
          reply(rsp::kContinue);
        } else if constexpr (std::is_same_v<T, Helo>) {
          conn_.helo = std::move(x.name);
          if (nr(proto::kNrHelo)) return;
          if (needs_.decide_helo) return decide(Event::kHelo);
          reply(rsp::kContinue);
        } else if constexpr (std::is_same_v<T, Mail>) {
          // A new transaction; message-stage macros just sent for it stay.
          msg_ = MessageInfo{};
          message_decided_ = false;
          header_bytes_ = 0;
          message_open_ = true;
          drop_leading_bracket_args(x.args, msg_.sender);
          msg_.mail_args = std::move(x.args);
          if (nr(proto::kNrMail)) {
            if (handler_) handler_->on_mail_noreply(ctx());
            return;
          }
          if (needs_.decide_mail) return decide(Event::kMail);
          reply(rsp::kContinue);
        } else if constexpr (std::is_same_v<T, Rcpt>) {
          message_open_ = true;
          Recipient r;
          drop_leading_bracket_args(x.args, r.address);
          r.args = std::move(x.args);
          if (needs_.decide_rcpt && !nr(proto::kNrRcpt)) {
            pending_rcpt_ = std::move(r);
            return decide(Event::kRcpt);
          }
          if (msg_.rcpts.size() < cfg_.max_rcpts) msg_.rcpts.push_back(std::move(r));
          if (!nr(proto::kNrRcpt)) reply(rsp::kContinue);
        } else if constexpr (std::is_same_v<T, Data>) {
          if (!nr(proto::kNrData)) reply(rsp::kContinue);
        } else if constexpr (std::is_same_v<T, Header>) {
          message_open_ = true;
          const std::size_t sz = x.name.size() + x.value.size();
          StoredHeader h{std::move(x.name), std::move(x.value)};
          if (msg_.headers.size() < cfg_.max_headers &&
              header_bytes_ + sz <= cfg_.max_header_bytes) {
            header_bytes_ += sz;
            // A typical message has a few dozen fields: one allocation, not six.
            if (msg_.headers.empty()) msg_.headers.reserve(std::min<std::size_t>(kTypicalHeaderCount, cfg_.max_headers));
            msg_.headers.push_back(std::move(h));
          } else {
            msg_.headers_truncated = true;
          }
          if (nr(proto::kNrHdr)) return;
          if (needs_.decide_header) {
            pending_header_ = std::move(h);
            return decide(Event::kHeader);
          }
          reply(rsp::kContinue);
        } else if constexpr (std::is_same_v<T, Eoh>) {
          if (nr(proto::kNrEoh)) return;
          if (needs_.decide_eoh) return decide(Event::kEoh);
          reply(rsp::kContinue);
        } else if constexpr (std::is_same_v<T, Body>) {
          message_open_ = true;
          msg_.body_size += x.chunk.size();
          if (msg_.body.size() < cfg_.max_body)
            msg_.body.append(x.chunk, 0, std::min(x.chunk.size(), cfg_.max_body - msg_.body.size()));
          if (nr(proto::kNrBody)) return;
          if (needs_.decide_body) {
            pending_chunk_ = std::move(x.chunk);
            return decide(Event::kBody);
          }
          reply(rsp::kContinue);
        } else if constexpr (std::is_same_v<T, Eob>) {
          if (!x.chunk.empty()) {
            msg_.body_size += x.chunk.size();
            if (msg_.body.size() < cfg_.max_body)
              msg_.body.append(x.chunk, 0,
                               std::min(x.chunk.size(), cfg_.max_body - msg_.body.size()));
          }
          decide(Event::kEom);
        } else if constexpr (std::is_same_v<T, Abort>) {
          if (handler_ && message_open_) handler_->on_abort(ctx());
          end_message();
        } else if constexpr (std::is_same_v<T, Quit>) {
          shutdown();
        } else if constexpr (std::is_same_v<T, QuitNc>) {
          // The SMTP connection ends but the socket is reused for the next one:
          // back to the post-negotiation state with a fresh Handler.
          close_handler();
          conn_ = ConnectionInfo{};
          macros_.clear();
          end_message();
          session_decided_ = false;
          open_handler();
        } else if constexpr (std::is_same_v<T, Unknown>) {
          if (!nr(proto::kNrUnkn)) reply(rsp::kContinue);
        }
      },
      c);
}

std::shared_ptr<Session::Slot> Session::new_slot() { return std::make_shared<Slot>(); }

void Session::decide(Event ev) {
  // Already decided (ACCEPT/REJECT earlier): the MTA should not ask again; if it
  // does, it gets CONTINUE and the Handler is not bothered.
  if (session_decided_ || (message_decided_ && ev != Event::kConnect && ev != Event::kHelo) ||
      !handler_) {
    if (ev == Event::kRcpt && msg_.rcpts.size() < cfg_.max_rcpts)
      msg_.rcpts.push_back(std::move(pending_rcpt_));
    reply(rsp::kContinue);
    if (ev == Event::kEom) end_message();
    return;
  }
  pending_event_ = ev;
  auto slot = new_slot();
  std::weak_ptr<Session> weak = weak_from_this();
  std::shared_ptr<const Post> post = post_;
  auto complete = [slot, weak, post](auto set) {
    if (slot->called.exchange(true)) return;  // called twice: ignore the second
    set(*slot);
    int expected = kInCallback;
    if (slot->state.compare_exchange_strong(expected, kDone)) return;  // synchronous
    (*post)([slot, weak] {
      if (auto s = weak.lock()) s->resume(slot);
    });
  };
  const Context c = ctx();
  Handler& h = *handler_;
  if (ev == Event::kEom) {
    h.on_eom(c, [complete](EomResult r) mutable {
      complete([&](Slot& s) { s.eom = std::move(r); });
    });
  } else {
    Decide d = [complete](Action a) mutable {
      complete([&](Slot& s) { s.action = std::move(a); });
    };
    switch (ev) {
      case Event::kConnect: h.on_connect(c, std::move(d)); break;
      case Event::kHelo: h.on_helo(c, std::move(d)); break;
      case Event::kMail: h.on_mail(c, std::move(d)); break;
      case Event::kRcpt: h.on_rcpt(c, pending_rcpt_, std::move(d)); break;
      case Event::kHeader: h.on_header(c, pending_header_, std::move(d)); break;
      case Event::kEoh: h.on_eoh(c, std::move(d)); break;
      case Event::kBody: h.on_body(c, pending_chunk_, std::move(d)); break;
      case Event::kEom: break;
    }
  }
  int expected = kInCallback;
  if (slot->state.compare_exchange_strong(expected, kAsync)) {
    waiting_ = true;  // resume() runs when the completion is called
    return;
  }
  settle(slot);
}

void Session::resume(const std::shared_ptr<Slot>& slot) {
  if (closed_ || !waiting_) return;
  waiting_ = false;
  settle(slot);
  pump();
  if (wake_) wake_();
}

void Session::settle(const std::shared_ptr<Slot>& slot) {
  if (pending_event_ == Event::kEom) {
    apply_eom(std::move(slot->eom));
  } else {
    apply(pending_event_, std::move(slot->action));
  }
}

namespace {
// Encodes a reject/tempfail decision: REPLYCODE when a code is given, else the
// bare REJECT/TEMPFAIL. Anything inconsistent becomes TEMPFAIL (our mistake
// must never produce a 5xx).
void encode_refusal(const Action& a, std::string& out) {
  const bool reject = a.kind == Action::Kind::kReject;
  if (a.code == 0) {
    (void)encode(Response{Simple{reject ? rsp::kReject : rsp::kTempfail}}, out);
    return;
  }
  const bool class_ok = reject ? (a.code >= 500 && a.code <= 599) : (a.code >= 400 && a.code <= 499);
  auto text = class_ok ? make_reply_text(a.code, a.xcode, a.text)
                       : Result<std::string>(fail(Code::kInternal, "reply class mismatch"));
  if (!text || !encode(Response{ReplyCode{std::move(*text)}}, out)) {
    (void)encode(Response{Simple{rsp::kTempfail}}, out);
  }
}
}  // namespace

void Session::apply(Event ev, Action a) {
  const bool conn_stage = ev == Event::kConnect || ev == Event::kHelo;
  switch (a.kind) {
    case Action::Kind::kContinue:
      if (ev == Event::kRcpt && msg_.rcpts.size() < cfg_.max_rcpts)
        msg_.rcpts.push_back(std::move(pending_rcpt_));
      if (ev == Event::kBody && (protocol_ & proto::kSkip) && msg_.body_size >= cfg_.max_body) {
        reply(rsp::kSkip);
        return;
      }
      reply(rsp::kContinue);
      return;
    case Action::Kind::kAccept:
      if (ev == Event::kRcpt && msg_.rcpts.size() < cfg_.max_rcpts)
        msg_.rcpts.push_back(std::move(pending_rcpt_));
      (conn_stage ? session_decided_ : message_decided_) = true;
      reply(rsp::kAccept);
      return;
    case Action::Kind::kReject:
    case Action::Kind::kTempfail:
      // At RCPT only that recipient is refused; elsewhere the message (or the
      // session, at CONNECT/HELO) is over for the filter.
      if (ev != Event::kRcpt) (conn_stage ? session_decided_ : message_decided_) = true;
      encode_refusal(a, out_);
      return;
    case Action::Kind::kDiscard:
      if (conn_stage) {  // not allowed by the MTA there: fail safe
        reply(rsp::kTempfail);
        return;
      }
      message_decided_ = true;
      reply(rsp::kDiscard);
      return;
    case Action::Kind::kQuarantine:
      // Sendmail takes QUARANTINE only at end of message: remember it.
      if (!(actions_ & act::kQuarantine)) {
        reply(rsp::kTempfail);
        return;
      }
      quarantine_ = a.text.empty() ? std::string("held by backstop") : a.text;
      if (ev == Event::kRcpt && msg_.rcpts.size() < cfg_.max_rcpts)
        msg_.rcpts.push_back(std::move(pending_rcpt_));
      reply(rsp::kContinue);
      return;
  }
}

void Session::apply_eom(EomResult r) {
  // Encode every modification first; if one is impossible (not negotiated,
  // NUL in a field) the whole answer becomes TEMPFAIL: mail is never lost and
  // never passes without a change the filter required.
  std::string mods;
  bool ok = true;
  const bool final_accepts = r.action.kind == Action::Kind::kContinue ||
                             r.action.kind == Action::Kind::kAccept ||
                             r.action.kind == Action::Kind::kQuarantine;
  if (final_accepts) {
    for (auto& m : r.mods) {
      Response resp{Simple{}};
      std::uint32_t need = 0;
      switch (m.kind) {
        case Modification::Kind::kAddHeader:
          need = act::kAddHdrs;
          resp = AddHeader{std::move(m.name), std::move(m.value)};
          break;
        case Modification::Kind::kInsertHeader:
          need = act::kAddHdrs;
          resp = InsHeader{m.index, std::move(m.name), std::move(m.value)};
          break;
        case Modification::Kind::kChangeHeader:
          need = act::kChgHdrs;
          resp = ChgHeader{m.index, std::move(m.name), std::move(m.value)};
          break;
        case Modification::Kind::kAddRcpt:
          if (m.args) {
            need = act::kAddRcptPar;
            resp = AddRcptPar{std::move(m.value), std::move(m.args)};
          } else {
            need = act::kAddRcpt;
            resp = AddRcpt{std::move(m.value)};
          }
          break;
        case Modification::Kind::kDeleteRcpt:
          need = act::kDelRcpt;
          resp = DelRcpt{std::move(m.value)};
          break;
        case Modification::Kind::kChangeFrom: {
          need = act::kChgFrom;
          std::string s = std::move(m.value);
          if (s.empty() || s.front() != '<') s = "<" + s + ">";  // the form Postfix verified
          resp = ChgFrom{std::move(s), std::move(m.args)};
          break;
        }
      }
      if (!(actions_ & need) || !encode(resp, mods)) {
        ok = false;
        break;
      }
    }
    std::optional<std::string> q = quarantine_;
    if (r.action.kind == Action::Kind::kQuarantine)
      q = r.action.text.empty() ? std::string("held by backstop") : r.action.text;
    if (ok && q) {
      if (!(actions_ & act::kQuarantine) || !encode(Response{Quarantine{*q}}, mods)) ok = false;
    }
  }
  if (!ok) {
    reply(rsp::kTempfail);
  } else {
    out_ += mods;
    switch (r.action.kind) {
      case Action::Kind::kContinue:
      case Action::Kind::kQuarantine:
        reply(rsp::kContinue);
        break;
      case Action::Kind::kAccept:
        reply(rsp::kAccept);
        break;
      case Action::Kind::kDiscard:
        reply(rsp::kDiscard);
        break;
      case Action::Kind::kReject:
      case Action::Kind::kTempfail:
        encode_refusal(r.action, out_);
        break;
    }
  }
  end_message();
}

}  // namespace backstop::milter
