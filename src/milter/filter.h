// The decision side of a milter connection: what backstop's logic implements.
//
// A Filter is a per-connection handler factory. For every MTA connection (and
// again after QUIT_NC) the session calls Filter::open() and feeds the returned
// Handler the events it asked for in Filter::needs(). Everything the MTA sent so
// far (connection data, macros, envelope, the stored headers and the first
// max_body bytes of the body) is visible through the Context passed to each
// callback, so a filter that only decides at end of message implements only
// on_eom.
//
// Asynchronous decisions: each callback receives a completion (`Decide` or
// `DecideEom`) that must be called exactly once, either before the callback
// returns (synchronous) or later from ANY thread (the session re-posts it to the
// connection's thread). While a decision is pending the session sends PROGRESS
// every ServerOptions::progress_interval so the MTA keeps waiting. If the
// connection goes away first, calling the completion is a harmless no-op.
//
// Thread-safety: a Handler is used by one connection at a time, on that
// connection's thread. Filter::open and Filter::needs may be called from any
// server thread concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "milter/protocol.h"

namespace backstop::milter {

// What to tell the MTA about the current event.
struct Action {
  enum class Kind {
    kContinue,    // go on (the default)
    kAccept,      // accept: at CONNECT/HELO the whole session, else this message
    kReject,      // 5xx: at RCPT only that recipient, else the message / session
    kTempfail,    // 4xx: same scope as kReject
    kDiscard,     // accept and silently drop the message (message events only)
    kQuarantine,  // hold the message in the MTA's hold queue, then continue
  };
  Kind kind = Kind::kContinue;
  int code = 0;           // reject/tempfail: SMTP code (0 = the MTA's default text)
  std::string xcode;      // enhanced status, e.g. "5.7.1"
  std::string text;       // reply text (may have several lines) or quarantine reason

  static Action cont() { return {}; }
  static Action accept() { return {Kind::kAccept, 0, {}, {}}; }
  static Action discard() { return {Kind::kDiscard, 0, {}, {}}; }
  static Action reject(int c = 550, std::string x = "5.7.1", std::string t = {}) {
    return {Kind::kReject, c, std::move(x), std::move(t)};
  }
  static Action tempfail(int c = 451, std::string x = "4.3.0", std::string t = {}) {
    return {Kind::kTempfail, c, std::move(x), std::move(t)};
  }
  static Action quarantine(std::string reason) {
    return {Kind::kQuarantine, 0, {}, std::move(reason)};
  }
};

// A message modification, applied by the MTA at end of message in list order.
struct Modification {
  enum class Kind {
    kAddHeader,     // append header `name: value`
    kInsertHeader,  // insert at `index` (0 = top)
    kChangeHeader,  // change the `index`-th (1-based) `name` header; empty value deletes
    kAddRcpt,       // add recipient `value` (with ESMTP args in `args`, if any)
    kDeleteRcpt,    // delete recipient `value` (as given at RCPT)
    kChangeFrom,    // replace the envelope sender with `value` (+ `args`)
  };
  Kind kind = Kind::kAddHeader;
  std::string name;
  std::string value;
  std::uint32_t index = 0;
  std::optional<std::string> args;

  static Modification add_header(std::string n, std::string v) {
    return {Kind::kAddHeader, std::move(n), std::move(v), 0, {}};
  }
  static Modification insert_header(std::uint32_t i, std::string n, std::string v) {
    return {Kind::kInsertHeader, std::move(n), std::move(v), i, {}};
  }
  static Modification change_header(std::string n, std::uint32_t i, std::string v) {
    return {Kind::kChangeHeader, std::move(n), std::move(v), i, {}};
  }
  static Modification add_rcpt(std::string r, std::optional<std::string> a = {}) {
    return {Kind::kAddRcpt, {}, std::move(r), 0, std::move(a)};
  }
  static Modification delete_rcpt(std::string r) {
    return {Kind::kDeleteRcpt, {}, std::move(r), 0, {}};
  }
  static Modification change_from(std::string s, std::optional<std::string> a = {}) {
    return {Kind::kChangeFrom, {}, std::move(s), 0, std::move(a)};
  }
};

// The end-of-message answer: modifications first, then the decision.
struct EomResult {
  Action action;
  std::vector<Modification> mods;
};

// ---- what the handler can see ----------------------------------------------------

// Macros the MTA sent, looked up by name with or without braces ("i",
// "{auth_authen}" == "auth_authen"). Connection stages (C, H) survive until the
// connection ends; message stages (M, R, T, L, N, B, E) are reset per message.
class Macros {
 public:
  // The value of the most recent definition, or nullopt.
  std::optional<std::string_view> get(std::string_view name) const;
  // Replaces the macros of one stage (the SMFIC code), as the protocol does.
  void set_stage(char stage, std::vector<std::pair<std::string, std::string>> pairs);
  void clear_message_stages();
  void clear();

 private:
  static constexpr char kStages[] = {'C', 'H', 'M', 'R', 'T', 'L', 'N', 'B', 'E', 'U'};
  // Newest-first lookup order: later SMTP stages shadow earlier ones.
  std::vector<std::pair<std::string, std::string>> by_stage_[sizeof(kStages)];
};

struct ConnectionInfo {
  std::string hostname;     // verified name or "[ip]"
  char family = 'U';        // '4', '6', 'L' unix, 'U' unknown
  std::uint16_t port = 0;
  std::string address;      // client IP (or socket path)
  std::string helo;         // last HELO/EHLO argument
};

struct Recipient {
  std::string address;             // as sent, angle brackets included: "<a@b>"
  std::vector<std::string> args;   // ESMTP parameters
};

struct StoredHeader {
  std::string name;
  std::string value;
};

struct MessageInfo {
  std::string sender;                   // "<a@b>" or "<>"
  std::vector<std::string> mail_args;   // ESMTP parameters of MAIL
  std::vector<Recipient> rcpts;         // recipients the filter did not refuse
  std::vector<StoredHeader> headers;    // in order, up to the header limits
  bool headers_truncated = false;       // more headers arrived than were kept
  std::string body;                     // the first SessionConfig::max_body bytes
  std::uint64_t body_size = 0;          // all body bytes seen, kept or not
  bool body_truncated() const { return body_size > body.size(); }
};

struct Context {
  const ConnectionInfo& conn;
  const MessageInfo& msg;
  const Macros& macros;
};

// Completions. Call exactly once, from any thread.
using Decide = std::function<void(Action)>;
using DecideEom = std::function<void(EomResult)>;

// What a filter needs from the MTA; the session turns this into the OPTNEG
// reply (only offered bits are ever requested).
struct Needs {
  // Events with a callback whose decision goes back to the MTA. For the others
  // the session asks the MTA not to wait for a reply (SMFIP_NR_*) and does not
  // call the handler; it still stores what they carry into the Context.
  bool decide_connect = false, decide_helo = false, decide_mail = false,
       decide_rcpt = false, decide_header = false, decide_eoh = false,
       decide_body = false;
  // HELO: when false the MTA is told not to send it (SMFIP_NOHELO) and
  // ConnectionInfo::helo stays empty.
  bool want_helo = true;
  // Header and body content: when false the MTA is told not to send them
  // (SMFIP_NOHDRS / NOBODY) and the Context holds none.
  bool want_headers = true;
  bool want_body = true;
  // SMFIF_* actions the filter may use at end of message.
  std::uint32_t actions = 0;
  // Macros to request per stage (SETSYMLIST), indexed by MacroStage,
  // space-separated; empty = the MTA's default list for that stage.
  std::string macros[kMacroStageCount];
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual void on_connect(const Context&, Decide done) { done(Action::cont()); }
  virtual void on_helo(const Context&, Decide done) { done(Action::cont()); }
  // The sender is ctx.msg.sender.
  virtual void on_mail(const Context&, Decide done) { done(Action::cont()); }
  // Instead of on_mail when MAIL was negotiated no-reply (Needs::decide_mail
  // false): the new transaction's start, synchronously and without an
  // answer, so that a filter can fix what the message is judged under.
  virtual void on_mail_noreply(const Context&) {}
  // `rcpt` is not yet in ctx.msg.rcpts; it is added unless refused.
  virtual void on_rcpt(const Context&, const Recipient& rcpt, Decide done) {
    (void)rcpt;
    done(Action::cont());
  }
  virtual void on_header(const Context&, const StoredHeader& h, Decide done) {
    (void)h;
    done(Action::cont());
  }
  virtual void on_eoh(const Context&, Decide done) { done(Action::cont()); }
  // One BODY chunk, also when it is past max_body and therefore not stored.
  virtual void on_body(const Context&, std::string_view chunk, Decide done) {
    (void)chunk;
    done(Action::cont());
  }
  // Always called for every message that reaches end of data.
  virtual void on_eom(const Context&, DecideEom done) = 0;
  // The MTA aborted the current message (the Context still holds it).
  virtual void on_abort(const Context&) {}
  // The connection context ends (QUIT, QUIT_NC, EOF, error). Last call.
  virtual void on_close(const Context&) {}
};

class Filter {
 public:
  virtual ~Filter() = default;
  virtual Needs needs() const = 0;
  virtual std::unique_ptr<Handler> open() = 0;
};

}  // namespace backstop::milter
