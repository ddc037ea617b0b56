// The SMTP client side of `backstop audit smtp`, pure: an incremental reply
// parser (RFC 5321 §4.2, multiline replies), command formatting that refuses
// CR/LF/NUL, dot-stuffing, and the probe dialogue as a state machine fed with
// replies and answering with the next command. The Asio driver (probe.h)
// only moves bytes and keeps time. Replies are untrusted bytes: every line
// and reply is bounded.
// Thread-safety: ReplyParser and ProbeDialogue are single-owner values.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/finding.h"
#include "common/result.h"

namespace backstop::audit {

// RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; real servers stay
// well below. Four times that still fits any honest banner and bounds what a
// hostile server can make us buffer per line.
inline constexpr std::size_t kMaxReplyLineBytes = 2048;
// Lines per reply. An EHLO reply lists a few dozen extensions at most.
inline constexpr std::size_t kMaxReplyLines = 128;
// Text kept per reply for the report (the first lines); the rest is counted
// and dropped, so a hostile multiline reply cannot grow the report.
inline constexpr std::size_t kMaxKeptReplyBytes = 4096;
// Bytes buffered while no complete line has arrived: one line plus its CRLF.
inline constexpr std::size_t kMaxPendingBytes = kMaxReplyLineBytes + 2;
// Longest domain and address the probe sends (RFC 5321 §4.5.3.1).
inline constexpr std::size_t kMaxDomainBytes = 255;
inline constexpr std::size_t kMaxAddressBytes = 254;
// The probe sends at most this many RCPT commands in all: the random address,
// postmaster (twice: with a sender and with the null sender) and, with
// --capture, the captured message's recipient.
inline constexpr std::size_t kMaxProbeRcpts = 4;

struct Reply {
  int code = 0;                    // 200..599
  std::vector<std::string> lines;  // text after "NNN-" / "NNN ", kept up to kMaxKeptReplyBytes
  std::size_t dropped_lines = 0;   // lines beyond what was kept
  int kind() const noexcept { return code / 100; }  // 2 positive, 3 intermediate, 4 temporary, 5 permanent
  // "250 2.1.5 Ok" (the first line), for reports.
  std::string first_line() const;
};

// Parses the server's byte stream into replies. feed() may be given any
// split of the stream; complete replies are appended to `out` in order.
// kMalformed: a line that is not "NNN[ -]text" (first digit 2-5, second
// 0-5), a continuation line whose code differs; kTooLarge: a line over
// kMaxReplyLineBytes or a reply over kMaxReplyLines. After an error the
// parser stays failed (the connection must be dropped).
class ReplyParser {
 public:
  Status feed(std::string_view bytes, std::vector<Reply>* out);
  // True between replies (no partial line, no open multiline reply).
  bool idle() const noexcept { return pending_.empty() && !open_; }

 private:
  Status line(std::string_view l, std::vector<Reply>* out);
  std::string pending_;
  Reply current_;
  std::size_t kept_bytes_ = 0;
  std::size_t line_count_ = 0;
  bool open_ = false;
  bool failed_ = false;
};

// "VERB arg\r\n". kInvalidArgument when arg holds CR, LF or NUL.
Result<std::string> format_command(std::string_view verb, std::string_view arg = {});

// A domain the probe may use: LDH labels (and '_' ), dots, or an address
// literal "[...]" of digits, hex, '.', ':' ; at most kMaxDomainBytes.
bool valid_probe_domain(std::string_view d) noexcept;
// local@domain with an atom-ish local part ([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+)
// and a valid_probe_domain; at most kMaxAddressBytes.
bool valid_probe_address(std::string_view a) noexcept;

// The message body as sent after DATA: lines ending in CRLF (bare LF
// converted), a leading '.' doubled, and the final ".\r\n".
std::string dot_stuff(std::string_view message);

// What the probe sends and to whom. All fields are checked by the caller
// (valid_probe_domain / valid_probe_address).
struct ProbePlan {
  std::string helo;              // EHLO/HELO name
  std::string sender;            // MAIL FROM for the recipient tests
  std::string domain;            // the domain under test
  std::string random_local;      // the nonexistent local part
  // --capture: after the tests, one message from capture_sender to
  // random_local@domain; `message` is the header and body (not stuffed).
  bool capture = false;
  std::string capture_sender;
  std::string message;
};

// The replies the probe got, one per test; empty when it was not reached.
struct ProbeOutcome {
  std::optional<Reply> greeting, helo, mail, rcpt_random, rcpt_postmaster, mail_null, rcpt_null_postmaster,
      capture_mail, capture_rcpt, data, end_of_data;
  bool ehlo_refused = false;  // EHLO failed and HELO was used
  // The dialogue ended early: why (a 421, a refused greeting, a broken reply).
  std::string aborted;
  // Every command sent and the first line of its reply, in order.
  std::vector<std::pair<std::string, std::string>> transcript;
};

// The probe as a state machine. start() is called once the connection is
// up; then each complete reply goes to on_reply(), which returns the bytes
// to send next (empty when it waits for nothing more: the dialogue is done).
class ProbeDialogue {
 public:
  explicit ProbeDialogue(ProbePlan plan);
  // Bytes to send next after `r`; empty string and done() when finished.
  std::string on_reply(const Reply& r);
  // The server broke the protocol or the connection: record why and stop.
  void abort(std::string why);
  bool done() const noexcept { return step_ == Step::kDone; }
  // True once the message content has been accepted (the 250 after DATA's
  // end): a bounce may now come back.
  bool message_sent() const noexcept { return outcome_.end_of_data && outcome_.end_of_data->kind() == 2; }
  std::size_t rcpts_sent() const noexcept { return rcpts_; }
  const ProbeOutcome& outcome() const noexcept { return outcome_; }
  const ProbePlan& plan() const noexcept { return plan_; }

 private:
  enum class Step {
    kGreeting, kEhlo, kHelo, kMail, kRcptRandom, kRcptPostmaster, kRset1, kMailNull, kRcptNullPostmaster,
    kRset2, kCaptureMail, kCaptureRcpt, kData, kBody, kQuit, kDone
  };
  std::string send(Step next, std::string_view verb, std::string_view arg = {});
  std::string after_null_sender();
  std::string quit();
  ProbePlan plan_;
  ProbeOutcome outcome_;
  Step step_ = Step::kGreeting;
  std::size_t rcpts_ = 0;
};

}  // namespace backstop::audit

namespace backstop::audit {

// What the --capture receiver saw.
struct CaptureResult {
  bool message_sent = false;     // the server took the probe message (250 after DATA)
  bool bounce_received = false;  // a message for the capture sender came back
  double seconds = 0;            // from the end of DATA to the bounce
  double waited_seconds = 0;     // how long the receiver waited in all
  std::string envelope_from;     // of the bounce ("" is the null sender)
  std::string kind;              // the classifier's kind ("bounce", ...)
  double confidence = 0;
  std::string status;            // the first DSN Status / diagnostic, if any
  std::string error;             // the receiver could not run: why
};

// The findings of one probe: accept-then-bounce, the null sender or
// postmaster refused, and with a capture the bounce that came back.
// Temporary (4xx) answers are notes, never findings.
Section judge_smtp(std::string target, const ProbePlan& plan, const ProbeOutcome& o,
                   const CaptureResult* capture);

}  // namespace backstop::audit

namespace backstop::audit {

// The --capture receiver's side of SMTP, pure. RFC 5321 §4.5.3.1.4 allows
// 512 octets per command line; a little more is tolerated.
inline constexpr std::size_t kMaxCommandLineBytes = 1024;
// A bounce of the probe message is a few KiB; anything larger is not one.
inline constexpr std::size_t kMaxCapturedMessageBytes = 1 << 20;
// A DATA line that long is refused (RFC 5321 §4.5.3.1.6 says 1000).
inline constexpr std::size_t kMaxDataLineBytes = 64 * 1024;
// Messages kept per session; the probe waits for one.
inline constexpr std::size_t kMaxCapturedMessages = 8;
// Recipients per message.
inline constexpr std::size_t kMaxCapturedRcpts = 16;

struct CapturedMessage {
  std::string mail_from;            // "" for the null sender
  std::vector<std::string> rcpts;
  std::string data;                 // un-stuffed, CRLF line ends, without the final "."
};

// One inbound connection. Accepts any MAIL FROM and RCPT TO (up to the
// limits), refuses oversized lines and messages with 5xx and closes on QUIT
// or a protocol error.
class ReceiverSession {
 public:
  // The 220 greeting naming `host`.
  std::string greeting(std::string_view host) const;
  // Consumes bytes from the client; returns the replies to send.
  std::string feed(std::string_view bytes);
  // QUIT was answered or the client broke the limits: close after sending.
  bool closed() const noexcept { return closed_; }
  std::vector<CapturedMessage> take_messages();

 private:
  std::string command(std::string_view line);
  std::string pending_;
  CapturedMessage current_;
  bool in_data_ = false;
  bool have_mail_ = false;
  bool too_large_ = false;
  bool closed_ = false;
  std::vector<CapturedMessage> done_;
};

}  // namespace backstop::audit
