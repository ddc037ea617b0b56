// Pure, incremental codec for milter protocol v6 (docs/reference/protocols.md §2).
//
// Both directions, both sides:
//  - CommandDecoder: bytes from an MTA -> Command (the filter side, untrusted input);
//  - encode(Command): Command -> bytes (the MTA side: tests, load client);
//  - encode(Response): Response -> bytes (the filter side);
//  - ResponseDecoder: bytes from a filter -> Response (the MTA side).
//
// Decoders accept arbitrary chunks (feed) and yield whole packets (next). The
// 4-byte length is checked against kMaxPacket before anything of the packet is
// buffered, so a hostile length never causes an allocation. Every string field
// must be NUL-terminated inside its packet and no byte may be left over.
// No I/O, no allocation beyond the bytes actually received. Not thread-safe;
// one decoder per connection.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"
#include "milter/protocol.h"

namespace backstop::milter {

// ---- MTA -> filter commands ----------------------------------------------------
struct OptNeg {
  std::uint32_t version = kVersion;
  std::uint32_t actions = 0;
  std::uint32_t protocol = 0;
  friend bool operator==(const OptNeg&, const OptNeg&) = default;
};
struct MacroDef {
  char stage = 0;  // the command the macros belong to (C, H, M, R, T, L, N, B, E, U)
  std::vector<std::pair<std::string, std::string>> pairs;
  friend bool operator==(const MacroDef&, const MacroDef&) = default;
};
struct Connect {
  std::string hostname;
  char family = 'U';  // '4', '6', 'L' (unix), 'U' (unknown: no port/address)
  std::uint16_t port = 0;
  std::string address;
  friend bool operator==(const Connect&, const Connect&) = default;
};
struct Helo {
  std::string name;
  friend bool operator==(const Helo&, const Helo&) = default;
};
struct Mail {  // args[0] is "<sender>", then ESMTP parameters
  std::vector<std::string> args;
  friend bool operator==(const Mail&, const Mail&) = default;
};
struct Rcpt {  // args[0] is "<recipient>", then ESMTP parameters
  std::vector<std::string> args;
  friend bool operator==(const Rcpt&, const Rcpt&) = default;
};
struct Data { friend bool operator==(const Data&, const Data&) = default; };
struct Header {
  std::string name;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};
struct Eoh { friend bool operator==(const Eoh&, const Eoh&) = default; };
struct Body {
  std::string chunk;
  friend bool operator==(const Body&, const Body&) = default;
};
struct Eob {  // libmilter accepts trailing body bytes here; Postfix sends none
  std::string chunk;
  friend bool operator==(const Eob&, const Eob&) = default;
};
struct Abort { friend bool operator==(const Abort&, const Abort&) = default; };
struct Quit { friend bool operator==(const Quit&, const Quit&) = default; };
struct QuitNc { friend bool operator==(const QuitNc&, const QuitNc&) = default; };
struct Unknown {
  std::string line;
  friend bool operator==(const Unknown&, const Unknown&) = default;
};

using Command = std::variant<OptNeg, MacroDef, Connect, Helo, Mail, Rcpt, Data, Header, Eoh,
                             Body, Eob, Abort, Quit, QuitNc, Unknown>;

// The SMFIC_* byte of a command.
char command_code(const Command& c) noexcept;

// ---- filter -> MTA responses ---------------------------------------------------
struct SymList {
  MacroStage stage = MacroStage::kConnect;
  std::string macros;  // names separated by spaces, e.g. "{auth_authen} i"
  friend bool operator==(const SymList&, const SymList&) = default;
};
struct OptNegReply {
  std::uint32_t version = kVersion;
  std::uint32_t actions = 0;
  std::uint32_t protocol = 0;
  std::vector<SymList> symlists;  // only with act::kSetSymList
  friend bool operator==(const OptNegReply&, const OptNegReply&) = default;
};
// A response without data: CONTINUE, ACCEPT, REJECT, TEMPFAIL, DISCARD,
// PROGRESS, SKIP, SHUTDOWN, CONN_FAIL.
struct Simple {
  char code = rsp::kContinue;
  friend bool operator==(const Simple&, const Simple&) = default;
};
struct ReplyCode {  // wire text, already escaped and validated (see make_reply_text)
  std::string text;
  friend bool operator==(const ReplyCode&, const ReplyCode&) = default;
};
struct AddHeader {
  std::string name, value;
  friend bool operator==(const AddHeader&, const AddHeader&) = default;
};
struct InsHeader {
  std::uint32_t index = 0;
  std::string name, value;
  friend bool operator==(const InsHeader&, const InsHeader&) = default;
};
struct ChgHeader {  // empty value deletes the header
  std::uint32_t index = 1;
  std::string name, value;
  friend bool operator==(const ChgHeader&, const ChgHeader&) = default;
};
struct AddRcpt {
  std::string rcpt;
  friend bool operator==(const AddRcpt&, const AddRcpt&) = default;
};
struct AddRcptPar {
  std::string rcpt;
  std::optional<std::string> args;
  friend bool operator==(const AddRcptPar&, const AddRcptPar&) = default;
};
struct DelRcpt {
  std::string rcpt;
  friend bool operator==(const DelRcpt&, const DelRcpt&) = default;
};
struct ChgFrom {
  std::string sender;
  std::optional<std::string> args;
  friend bool operator==(const ChgFrom&, const ChgFrom&) = default;
};
struct Quarantine {
  std::string reason;
  friend bool operator==(const Quarantine&, const Quarantine&) = default;
};
struct ReplBody {
  std::string chunk;
  friend bool operator==(const ReplBody&, const ReplBody&) = default;
};

using Response = std::variant<OptNegReply, Simple, ReplyCode, AddHeader, InsHeader, ChgHeader,
                              AddRcpt, AddRcptPar, DelRcpt, ChgFrom, Quarantine, ReplBody>;

// True for the responses that end an exchange (a decision), false for
// modifications and PROGRESS.
bool is_final(const Response& r) noexcept;

// ---- encoders (append one whole packet to `out`) ----------------------------------
// Strings must not contain NUL (a NUL would end the field early on the wire):
// encoders return kInvalidArgument for such input instead of writing a packet.
Status encode(const Command& c, std::string& out);
Status encode(const Response& r, std::string& out);

// Builds a REPLYCODE text: `code` must be 4xx or 5xx, `xcode` empty or an
// enhanced status "c.s.d" whose class digit equals code's first digit. `text`
// may hold several lines (split at CR/LF); each becomes "ddd-x.y.z line" and
// the last "ddd x.y.z line", joined by CRLF. '%' is doubled (Sendmail treats
// the text as a format string), control characters other than the line breaks
// become spaces, lines are cut at kMaxReplyLine, at most kMaxReplyLines lines.
Result<std::string> make_reply_text(int code, std::string_view xcode, std::string_view text);

// ---- decoders ------------------------------------------------------------------
namespace detail {
// Shared framing: buffers bytes, hands out one packet (cmd + payload) at a time.
class Framer {
 public:
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // nullopt: need more bytes. Error: kTooLarge / kProtocol (length 0).
  // On success returns {cmd, payload}; the view stays valid until the next call.
  Result<std::optional<std::pair<char, std::string_view>>> next();
  // Bytes received but not yet returned as packets.
  std::size_t buffered() const noexcept { return buf_.size() - pos_; }

 private:
  std::string buf_;
  std::size_t pos_ = 0;
};
}  // namespace detail

// MTA -> filter. After an error the decoder is poisoned: the stream is out of
// sync and the connection must be closed.
class CommandDecoder {
 public:
  void feed(std::string_view bytes) { framer_.feed(bytes); }
  // nullopt: need more bytes. Errors: kTooLarge (length over kMaxPacket),
  // kProtocol (length 0, unknown command), kMalformed (bad fields).
  Result<std::optional<Command>> next();
  std::size_t buffered() const noexcept { return framer_.buffered(); }

 private:
  detail::Framer framer_;
  bool failed_ = false;
};

// Parses one command packet (cmd byte + payload). Pure; used by the decoder.
Result<Command> parse_command(char cmd, std::string_view payload);

// Filter -> MTA (the MTA side: tests and the load client). Same error rules.
class ResponseDecoder {
 public:
  void feed(std::string_view bytes) { framer_.feed(bytes); }
  Result<std::optional<Response>> next();

 private:
  detail::Framer framer_;
  bool failed_ = false;
};

Result<Response> parse_response(char cmd, std::string_view payload);

}  // namespace backstop::milter
