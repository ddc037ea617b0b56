// One MTA connection's milter state machine, driven by bytes. No I/O: the
// server feeds what it reads and writes what take_output() returns, so tests
// drive it with plain strings and a fake Filter.
//
// States: before OPTNEG only OPTNEG is valid (anything else is a protocol error);
// after it every command is accepted in any order the MTA chooses (the MTA owns
// the SMTP state; ABORT, QUIT and QUIT_NC may come at any time). Per-connection
// state (connection info, connection-stage macros, the Handler) owns the
// per-message state (envelope, headers, body, message-stage macros), which is
// reset on ABORT, after the end-of-message decision and on QUIT_NC.
//
// Flow control: while a Handler decision is pending, feed() only buffers; the
// server should stop reading (waiting() == true) so at most one read chunk plus
// one partial packet are buffered.
//
// Thread-safety: one thread (the connection's). Completions handed to the
// Handler may be called from any thread: they go through `post`.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "milter/codec.h"
#include "milter/filter.h"

namespace backstop::milter {

// classify.max_body: body bytes kept per message for the classifier (DESIGN.md §7).
inline constexpr std::size_t kDefaultMaxBody = 256 * 1024;
// Headers kept per message. Postfix's header_size_limit (100 KiB) bounds one
// header, not their number; 1000 headers / 1 MiB is far beyond real mail and
// bounds memory. Further headers are counted (headers_truncated), not stored.
inline constexpr std::size_t kMaxStoredHeaders = 1000;
inline constexpr std::size_t kMaxStoredHeaderBytes = 1024 * 1024;
// Recipients kept per message: Postfix's smtpd_recipient_limit default (1000).
inline constexpr std::size_t kMaxStoredRcpts = 1000;
// Macro bytes kept per stage: real macro sets are well under 1 KiB; this bounds
// a hostile MTA to 10 stages x 64 KiB per connection.
inline constexpr std::size_t kMaxMacroBytesPerStage = 64 * 1024;

struct SessionConfig {
  std::size_t max_body = kDefaultMaxBody;
  std::size_t max_headers = kMaxStoredHeaders;
  std::size_t max_header_bytes = kMaxStoredHeaderBytes;
  std::size_t max_rcpts = kMaxStoredRcpts;
  // PROGRESS outside end of message. Postfix accepts it at every event, but
  // libmilter only sends it from xxfi_eom and Sendmail (and miltertest) read a
  // single reply at the other events, so by default a decision pending before
  // EOM gets no PROGRESS and must come within the MTA's command timeout.
  bool progress_before_eom = false;
};

// Runs a function on the connection's thread, later (never inline).
using Post = std::function<void(std::function<void()>)>;

class Session : public std::enable_shared_from_this<Session> {
 public:
  static std::shared_ptr<Session> create(Filter& filter, SessionConfig cfg, Post post);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Consumes bytes from the MTA and processes every whole command, up to the
  // first one whose decision is pending.
  void feed(std::string_view bytes);
  // Bytes to send to the MTA; the caller writes them all.
  std::string take_output() { return std::exchange(out_, {}); }
  bool has_output() const { return !out_.empty(); }
  // A Handler decision is pending (stop reading; send_progress() meanwhile).
  bool waiting() const { return waiting_; }
  // The conversation is over (QUIT, protocol error): flush output, then close.
  bool closed() const { return closed_; }
  // Why it closed, if it was an error (protocol, malformed, too large).
  const std::optional<Error>& error() const { return error_; }
  // Between MAIL and the end of that message, or waiting: draining must wait.
  bool busy() const { return waiting_ || message_open_; }
  // Bytes received but not yet processed (a partial packet, or input held
  // while a decision is pending).
  std::size_t buffered() const { return decoder_.buffered(); }
  // Appends a PROGRESS packet if a decision is pending (at EOM, or at any
  // event with SessionConfig::progress_before_eom).
  void send_progress();
  // Called on the connection's thread after an asynchronous decision has been
  // applied (new output, maybe more commands processed).
  void set_wake(std::function<void()> wake) { wake_ = std::move(wake); }
  // The transport is gone (EOF, error, shutdown): ends the Handler.
  void shutdown();

  // Negotiated masks (after OPTNEG), for tests and logs.
  std::uint32_t negotiated_actions() const { return actions_; }
  std::uint32_t negotiated_protocol() const { return protocol_; }

 private:
  enum class Event { kConnect, kHelo, kMail, kRcpt, kHeader, kEoh, kBody, kEom };
  struct Slot;

  Session(Filter& filter, SessionConfig cfg, Post post);
  void pump();
  void handle(Command& c);
  void negotiate(const OptNeg& o);
  void protocol_error(Error e);
  bool nr(std::uint32_t flag) const { return (protocol_ & flag) != 0; }
  void reply(char code);
  // Calls the handler for `ev` unless the session/message was already decided.
  void decide(Event ev);
  void apply(Event ev, Action a);
  void apply_eom(EomResult r);
  std::shared_ptr<Slot> new_slot();
  void settle(const std::shared_ptr<Slot>& slot);
  void resume(const std::shared_ptr<Slot>& slot);
  void end_message();
  void open_handler();
  void close_handler();
  Context ctx() const { return Context{conn_, msg_, macros_}; }

  Filter& filter_;
  SessionConfig cfg_;
  std::shared_ptr<const Post> post_;  // shared with pending completions
  std::function<void()> wake_;
  Needs needs_;
  std::unique_ptr<Handler> handler_;
  CommandDecoder decoder_;
  std::string out_;

  bool negotiated_ = false;
  std::uint32_t actions_ = 0;
  std::uint32_t protocol_ = 0;
  bool waiting_ = false;
  bool closed_ = false;
  bool in_pump_ = false;
  std::optional<Error> error_;

  // Connection state.
  ConnectionInfo conn_;
  Macros macros_;
  bool session_decided_ = false;  // ACCEPT/REJECT at CONNECT/HELO: no more callbacks

  // Message state.
  MessageInfo msg_;
  bool message_open_ = false;
  bool message_decided_ = false;  // accepted/rejected/discarded before EOM
  std::optional<std::string> quarantine_;
  std::size_t header_bytes_ = 0;
  Recipient pending_rcpt_;
  StoredHeader pending_header_;
  std::string pending_chunk_;
  Event pending_event_ = Event::kConnect;
};

}  // namespace backstop::milter
