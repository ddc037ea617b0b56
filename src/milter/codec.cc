#include "milter/codec.h"

#include <cstring>

namespace backstop::milter {
namespace {

// Reads fields out of one packet payload. Every accessor checks the bounds.
class Reader {
 public:
  explicit Reader(std::string_view p) : p_(p) {}
  bool at_end() const { return pos_ == p_.size(); }
  std::string_view rest() const { return p_.substr(pos_); }

  Result<std::uint32_t> u32(const char* what) {
    if (p_.size() - pos_ < 4) return fail(Code::kMalformed, std::string("truncated ") + what);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p_[pos_ + i]);
    pos_ += 4;
    return v;
  }
  Result<std::uint16_t> u16(const char* what) {
    if (p_.size() - pos_ < 2) return fail(Code::kMalformed, std::string("truncated ") + what);
    auto v = static_cast<std::uint16_t>((static_cast<unsigned char>(p_[pos_]) << 8) |
                                        static_cast<unsigned char>(p_[pos_ + 1]));
    pos_ += 2;
    return v;
  }
  Result<char> byte(const char* what) {
    if (at_end()) return fail(Code::kMalformed, std::string("truncated ") + what);
    return p_[pos_++];
  }
  // A NUL-terminated string that must end inside the packet.
  Result<std::string> cstr(const char* what) {
    auto r = p_.substr(pos_);
    auto nul = r.find('\0');
    if (nul == std::string_view::npos)
      return fail(Code::kMalformed, std::string(what) + " not NUL-terminated");
    pos_ += nul + 1;
    return std::string(r.substr(0, nul));
  }
  // A string array: NUL-terminated strings up to the end of the packet.
  Result<std::vector<std::string>> cstrs(const char* what) {
    std::vector<std::string> out;
    while (!at_end()) {
      auto s = cstr(what);
      BACKSTOP_TRY(s);
      out.push_back(std::move(*s));
    }
    return out;
  }
  Status end(const char* what) {
    if (!at_end()) return fail(Code::kMalformed, std::string("leftover bytes after ") + what);
    return {};
  }

 private:
  std::string_view p_;
  std::size_t pos_ = 0;
};

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

// Packet builder: reserves the length, appends fields, patches the length.
class Packet {
 public:
  Packet(std::string& out, char code) : out_(out), start_(out.size()) {
    put_u32(out_, 0);
    out_.push_back(code);
  }
  void u32(std::uint32_t v) { put_u32(out_, v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<char>(v >> 8));
    out_.push_back(static_cast<char>(v));
  }
  void byte(char c) { out_.push_back(c); }
  void raw(std::string_view s) { out_.append(s); }
  void cstr(std::string_view s) {
    if (s.find('\0') != std::string_view::npos) bad_ = true;
    out_.append(s);
    out_.push_back('\0');
  }
  // Patches the length or, for bad input, removes the partial packet.
  Status finish() {
    std::size_t len = out_.size() - start_ - kLenBytes;
    if (bad_ || len > kMaxPacket) {
      out_.resize(start_);
      return fail(Code::kInvalidArgument,
                  bad_ ? "milter field contains NUL" : "milter packet over kMaxPacket");
    }
    for (int i = 0; i < 4; ++i)
      out_[start_ + i] = static_cast<char>(len >> (24 - 8 * i));
    return {};
  }

 private:
  std::string& out_;
  std::size_t start_;
  bool bad_ = false;
};

Status expect_empty(std::string_view payload, const char* what) {
  if (!payload.empty()) return fail(Code::kMalformed, std::string("leftover bytes after ") + what);
  return {};
}

bool is_simple_response(char c) {
  switch (c) {
    case rsp::kContinue: case rsp::kAccept: case rsp::kReject: case rsp::kTempfail:
    case rsp::kDiscard: case rsp::kProgress: case rsp::kSkip: case rsp::kShutdown:
    case rsp::kConnFail:
      return true;
    default:
      return false;
  }
}

}  // namespace

char command_code(const Command& c) noexcept {
  static constexpr char kCodes[] = {cmd::kOptneg, cmd::kMacro, cmd::kConnect, cmd::kHelo,
                                    cmd::kMail,   cmd::kRcpt,  cmd::kData,    cmd::kHeader,
                                    cmd::kEoh,    cmd::kBody,  cmd::kEob,     cmd::kAbort,
                                    cmd::kQuit,   cmd::kQuitNc, cmd::kUnknown};
  static_assert(sizeof(kCodes) == std::variant_size_v<Command>);
  return kCodes[c.index()];
}

bool is_final(const Response& r) noexcept {
  if (const auto* s = std::get_if<Simple>(&r)) return s->code != rsp::kProgress;
  return std::holds_alternative<ReplyCode>(r);
}

// ---- framing -----------------------------------------------------------------

Result<std::optional<std::pair<char, std::string_view>>> detail::Framer::next() {
  // Drop consumed bytes once they dominate the buffer (amortised O(n)).
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ >= buf_.size() / 2)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  if (buf_.size() - pos_ < kLenBytes) return std::optional<std::pair<char, std::string_view>>{};
  std::uint32_t len = 0;
  for (std::size_t i = 0; i < kLenBytes; ++i)
    len = (len << 8) | static_cast<unsigned char>(buf_[pos_ + i]);
  if (len == 0) return fail(Code::kProtocol, "milter packet length 0");
  if (len > kMaxPacket)
    return fail(Code::kTooLarge, "milter packet length " + std::to_string(len) + " over " +
                                     std::to_string(kMaxPacket));
  if (buf_.size() - pos_ - kLenBytes < len)
    return std::optional<std::pair<char, std::string_view>>{};
  char code = buf_[pos_ + kLenBytes];
  std::string_view payload(buf_.data() + pos_ + kLenBytes + 1, len - 1);
  pos_ += kLenBytes + len;
  return std::optional<std::pair<char, std::string_view>>{std::pair{code, payload}};
}

// ---- commands ------------------------------------------------------------------

Result<Command> parse_command(char code, std::string_view payload) {
  Reader r(payload);
  switch (code) {
    case cmd::kOptneg: {
      OptNeg o;
      auto v = r.u32("OPTNEG version");
      BACKSTOP_TRY(v);
      auto a = r.u32("OPTNEG actions");
      BACKSTOP_TRY(a);
      auto p = r.u32("OPTNEG protocol");
      BACKSTOP_TRY(p);
      BACKSTOP_TRY(r.end("OPTNEG"));
      o.version = *v;
      o.actions = *a;
      o.protocol = *p;
      return Command{o};
    }
    case cmd::kMacro: {
      MacroDef m;
      auto stage = r.byte("MACRO stage");
      BACKSTOP_TRY(stage);
      m.stage = *stage;
      auto strs = r.cstrs("MACRO name/value");
      BACKSTOP_TRY(strs);
      if (strs->size() % 2 != 0) return fail(Code::kMalformed, "MACRO name without value");
      for (std::size_t i = 0; i < strs->size(); i += 2)
        m.pairs.emplace_back(std::move((*strs)[i]), std::move((*strs)[i + 1]));
      return Command{std::move(m)};
    }
    case cmd::kConnect: {
      Connect c;
      auto host = r.cstr("CONNECT hostname");
      BACKSTOP_TRY(host);
      c.hostname = std::move(*host);
      auto fam = r.byte("CONNECT family");
      BACKSTOP_TRY(fam);
      c.family = *fam;
      if (c.family == 'U') {
        BACKSTOP_TRY(r.end("CONNECT"));
        return Command{std::move(c)};
      }
      if (c.family != '4' && c.family != '6' && c.family != 'L')
        return fail(Code::kMalformed, "CONNECT unknown address family");
      auto port = r.u16("CONNECT port");
      BACKSTOP_TRY(port);
      c.port = *port;
      auto addr = r.cstr("CONNECT address");
      BACKSTOP_TRY(addr);
      c.address = std::move(*addr);
      BACKSTOP_TRY(r.end("CONNECT"));
      return Command{std::move(c)};
    }
    case cmd::kHelo: {
      auto h = r.cstr("HELO name");
      BACKSTOP_TRY(h);
      BACKSTOP_TRY(r.end("HELO"));
      return Command{Helo{std::move(*h)}};
    }
    case cmd::kMail:
    case cmd::kRcpt: {
      auto args = r.cstrs(code == cmd::kMail ? "MAIL argument" : "RCPT argument");
      BACKSTOP_TRY(args);
      if (args->empty())
        return fail(Code::kMalformed, code == cmd::kMail ? "MAIL without sender"
                                                         : "RCPT without recipient");
      if (code == cmd::kMail) return Command{Mail{std::move(*args)}};
      return Command{Rcpt{std::move(*args)}};
    }
    case cmd::kHeader: {
      Header h;
      auto n = r.cstr("HEADER name");
      BACKSTOP_TRY(n);
      auto v = r.cstr("HEADER value");
      BACKSTOP_TRY(v);
      BACKSTOP_TRY(r.end("HEADER"));
      h.name = std::move(*n);
      h.value = std::move(*v);
      return Command{std::move(h)};
    }
    case cmd::kBody:
      return Command{Body{std::string(payload)}};
    case cmd::kEob:
      return Command{Eob{std::string(payload)}};
    case cmd::kUnknown: {
      auto l = r.cstr("UNKNOWN line");
      BACKSTOP_TRY(l);
      BACKSTOP_TRY(r.end("UNKNOWN"));
      return Command{Unknown{std::move(*l)}};
    }
    case cmd::kData:
      BACKSTOP_TRY(expect_empty(payload, "DATA"));
      return Command{Data{}};
    case cmd::kEoh:
      BACKSTOP_TRY(expect_empty(payload, "EOH"));
      return Command{Eoh{}};
    case cmd::kAbort:
      BACKSTOP_TRY(expect_empty(payload, "ABORT"));
      return Command{Abort{}};
    case cmd::kQuit:
      BACKSTOP_TRY(expect_empty(payload, "QUIT"));
      return Command{Quit{}};
    case cmd::kQuitNc:
      BACKSTOP_TRY(expect_empty(payload, "QUIT_NC"));
      return Command{QuitNc{}};
    default:
      return fail(Code::kProtocol, "unknown milter command byte " +
                                       std::to_string(static_cast<unsigned char>(code)));
  }
}

Result<std::optional<Command>> CommandDecoder::next() {
  if (failed_) return fail(Code::kProtocol, "milter stream out of sync after an earlier error");
  auto pkt = framer_.next();
  if (!pkt) {
    failed_ = true;
    return unexpected<Error>(std::move(pkt).error());
  }
  if (!pkt->has_value()) return std::optional<Command>{};
  auto [code, payload] = **pkt;
  auto c = parse_command(code, payload);
  if (!c) {
    failed_ = true;
    return unexpected<Error>(std::move(c).error());
  }
  return std::optional<Command>{std::move(*c)};
}

namespace {
struct CommandEncoder {
  std::string& out;
  Status operator()(const OptNeg& o) {
    Packet p(out, cmd::kOptneg);
    p.u32(o.version);
    p.u32(o.actions);
    p.u32(o.protocol);
    return p.finish();
  }
  Status operator()(const MacroDef& m) {
    Packet p(out, cmd::kMacro);
    p.byte(m.stage);
    for (const auto& [n, v] : m.pairs) {
      p.cstr(n);
      p.cstr(v);
    }
    return p.finish();
  }
  Status operator()(const Connect& c) {
    Packet p(out, cmd::kConnect);
    p.cstr(c.hostname);
    p.byte(c.family);
    if (c.family != 'U') {
      p.u16(c.port);
      p.cstr(c.address);
    }
    return p.finish();
  }
  Status operator()(const Helo& h) {
    Packet p(out, cmd::kHelo);
    p.cstr(h.name);
    return p.finish();
  }
  Status args(char code, const std::vector<std::string>& a) {
    if (a.empty()) return fail(Code::kInvalidArgument, "MAIL/RCPT needs an address");
    Packet p(out, code);
    for (const auto& s : a) p.cstr(s);
    return p.finish();
  }
  Status operator()(const Mail& m) { return args(cmd::kMail, m.args); }
  Status operator()(const Rcpt& r) { return args(cmd::kRcpt, r.args); }
  Status operator()(const Data&) { return Packet(out, cmd::kData).finish(); }
  Status operator()(const Header& h) {
    Packet p(out, cmd::kHeader);
    p.cstr(h.name);
    p.cstr(h.value);
    return p.finish();
  }
  Status operator()(const Eoh&) { return Packet(out, cmd::kEoh).finish(); }
  Status operator()(const Body& b) {
    Packet p(out, cmd::kBody);
    p.raw(b.chunk);
    return p.finish();
  }
  Status operator()(const Eob& e) {
    Packet p(out, cmd::kEob);
    p.raw(e.chunk);
    return p.finish();
  }
  Status operator()(const Abort&) { return Packet(out, cmd::kAbort).finish(); }
  Status operator()(const Quit&) { return Packet(out, cmd::kQuit).finish(); }
  Status operator()(const QuitNc&) { return Packet(out, cmd::kQuitNc).finish(); }
  Status operator()(const Unknown& u) {
    Packet p(out, cmd::kUnknown);
    p.cstr(u.line);
    return p.finish();
  }
};

struct ResponseEncoder {
  std::string& out;
  Status operator()(const OptNegReply& o) {
    Packet p(out, rsp::kOptneg);
    p.u32(o.version);
    p.u32(o.actions);
    p.u32(o.protocol);
    for (const auto& s : o.symlists) {
      p.u32(static_cast<std::uint32_t>(s.stage));
      p.cstr(s.macros);
    }
    return p.finish();
  }
  Status operator()(const Simple& s) {
    if (!is_simple_response(s.code))
      return fail(Code::kInvalidArgument, "not a data-less milter response");
    return Packet(out, s.code).finish();
  }
  Status operator()(const ReplyCode& r) {
    Packet p(out, rsp::kReplyCode);
    p.cstr(r.text);
    return p.finish();
  }
  Status operator()(const AddHeader& h) {
    Packet p(out, rsp::kAddHeader);
    p.cstr(h.name);
    p.cstr(h.value);
    return p.finish();
  }
  Status operator()(const InsHeader& h) {
    Packet p(out, rsp::kInsHeader);
    p.u32(h.index);
    p.cstr(h.name);
    p.cstr(h.value);
    return p.finish();
  }
  Status operator()(const ChgHeader& h) {
    Packet p(out, rsp::kChgHeader);
    p.u32(h.index);
    p.cstr(h.name);
    p.cstr(h.value);
    return p.finish();
  }
  Status operator()(const AddRcpt& a) {
    Packet p(out, rsp::kAddRcpt);
    p.cstr(a.rcpt);
    return p.finish();
  }
  Status operator()(const AddRcptPar& a) {
    Packet p(out, rsp::kAddRcptPar);
    p.cstr(a.rcpt);
    if (a.args) p.cstr(*a.args);
    return p.finish();
  }
  Status operator()(const DelRcpt& d) {
    Packet p(out, rsp::kDelRcpt);
    p.cstr(d.rcpt);
    return p.finish();
  }
  Status operator()(const ChgFrom& c) {
    Packet p(out, rsp::kChgFrom);
    p.cstr(c.sender);
    if (c.args) p.cstr(*c.args);
    return p.finish();
  }
  Status operator()(const Quarantine& q) {
    Packet p(out, rsp::kQuarantine);
    p.cstr(q.reason);
    return p.finish();
  }
  Status operator()(const ReplBody& b) {
    Packet p(out, rsp::kReplBody);
    p.raw(b.chunk);
    return p.finish();
  }
};
}  // namespace

Status encode(const Command& c, std::string& out) { return std::visit(CommandEncoder{out}, c); }
Status encode(const Response& r, std::string& out) { return std::visit(ResponseEncoder{out}, r); }

// ---- responses ---------------------------------------------------------------------

Result<Response> parse_response(char code, std::string_view payload) {
  Reader r(payload);
  if (is_simple_response(code)) {
    BACKSTOP_TRY(expect_empty(payload, "simple response"));
    return Response{Simple{code}};
  }
  switch (code) {
    case rsp::kOptneg: {
      OptNegReply o;
      auto v = r.u32("OPTNEG version");
      BACKSTOP_TRY(v);
      auto a = r.u32("OPTNEG actions");
      BACKSTOP_TRY(a);
      auto p = r.u32("OPTNEG protocol");
      BACKSTOP_TRY(p);
      o.version = *v;
      o.actions = *a;
      o.protocol = *p;
      while (!r.at_end()) {
        auto stage = r.u32("SETSYMLIST stage");
        BACKSTOP_TRY(stage);
        if (*stage >= kMacroStageCount) return fail(Code::kMalformed, "SETSYMLIST stage unknown");
        auto names = r.cstr("SETSYMLIST macros");
        BACKSTOP_TRY(names);
        o.symlists.push_back(SymList{static_cast<MacroStage>(*stage), std::move(*names)});
      }
      return Response{std::move(o)};
    }
    case rsp::kReplyCode: {
      auto t = r.cstr("REPLYCODE text");
      BACKSTOP_TRY(t);
      BACKSTOP_TRY(r.end("REPLYCODE"));
      return Response{ReplyCode{std::move(*t)}};
    }
    case rsp::kAddHeader: {
      auto n = r.cstr("ADDHEADER name");
      BACKSTOP_TRY(n);
      auto v = r.cstr("ADDHEADER value");
      BACKSTOP_TRY(v);
      BACKSTOP_TRY(r.end("ADDHEADER"));
      return Response{AddHeader{std::move(*n), std::move(*v)}};
    }
    case rsp::kInsHeader:
    case rsp::kChgHeader: {
      auto i = r.u32("header index");
      BACKSTOP_TRY(i);
      auto n = r.cstr("header name");
      BACKSTOP_TRY(n);
      auto v = r.cstr("header value");
      BACKSTOP_TRY(v);
      BACKSTOP_TRY(r.end("INSHEADER/CHGHEADER"));
      if (code == rsp::kInsHeader) return Response{InsHeader{*i, std::move(*n), std::move(*v)}};
      return Response{ChgHeader{*i, std::move(*n), std::move(*v)}};
    }
    case rsp::kAddRcpt:
    case rsp::kDelRcpt:
    case rsp::kQuarantine: {
      auto s = r.cstr("address/reason");
      BACKSTOP_TRY(s);
      BACKSTOP_TRY(r.end("ADDRCPT/DELRCPT/QUARANTINE"));
      if (code == rsp::kAddRcpt) return Response{AddRcpt{std::move(*s)}};
      if (code == rsp::kDelRcpt) return Response{DelRcpt{std::move(*s)}};
      return Response{Quarantine{std::move(*s)}};
    }
    case rsp::kAddRcptPar:
    case rsp::kChgFrom: {
      auto s = r.cstr("address");
      BACKSTOP_TRY(s);
      std::optional<std::string> args;
      if (!r.at_end()) {
        auto a = r.cstr("ESMTP arguments");
        BACKSTOP_TRY(a);
        args = std::move(*a);
      }
      BACKSTOP_TRY(r.end("ADDRCPT_PAR/CHGFROM"));
      if (code == rsp::kAddRcptPar) return Response{AddRcptPar{std::move(*s), std::move(args)}};
      return Response{ChgFrom{std::move(*s), std::move(args)}};
    }
    case rsp::kReplBody:
      return Response{ReplBody{std::string(payload)}};
    default:
      return fail(Code::kProtocol, "unknown milter response byte " +
                                       std::to_string(static_cast<unsigned char>(code)));
  }
}

Result<std::optional<Response>> ResponseDecoder::next() {
  if (failed_) return fail(Code::kProtocol, "milter stream out of sync after an earlier error");
  auto pkt = framer_.next();
  if (!pkt) {
    failed_ = true;
    return unexpected<Error>(std::move(pkt).error());
  }
  if (!pkt->has_value()) return std::optional<Response>{};
  auto [code, payload] = **pkt;
  auto r = parse_response(code, payload);
  if (!r) {
    failed_ = true;
    return unexpected<Error>(std::move(r).error());
  }
  return std::optional<Response>{std::move(*r)};
}

// ---- REPLYCODE text ----------------------------------------------------------------

namespace {
bool valid_xcode(std::string_view x, int klass) {
  // c.s.d: class 1 digit (2, 4 or 5 — here 4 or 5), subject and detail 1-3 digits.
  auto digits = [](std::string_view s) {
    if (s.empty() || s.size() > 3) return false;
    for (char c : s)
      if (c < '0' || c > '9') return false;
    return true;
  };
  auto d1 = x.find('.');
  if (d1 != 1) return false;
  auto d2 = x.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  return x[0] == static_cast<char>('0' + klass) && digits(x.substr(d1 + 1, d2 - d1 - 1)) &&
         digits(x.substr(d2 + 1));
}
}  // namespace

Result<std::string> make_reply_text(int code, std::string_view xcode, std::string_view text) {
  if (code < 400 || code > 599)
    return fail(Code::kInvalidArgument, "milter reply code must be 4xx or 5xx");
  if (!xcode.empty() && !valid_xcode(xcode, code / 100))
    return fail(Code::kInvalidArgument, "enhanced status code does not match the reply class");
  // Split into lines at CR, LF or CRLF; drop empty lines.
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\r' || text[i] == '\n') {
      if (i > start) lines.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (lines.empty()) lines.emplace_back();
  if (lines.size() > kMaxReplyLines) lines.resize(kMaxReplyLines);

  const std::string code_s = std::to_string(code);
  std::string out;
  for (std::size_t li = 0; li < lines.size(); ++li) {
    const bool last = li + 1 == lines.size();
    const std::size_t line_start = out.size();
    out += code_s;
    out += last ? ' ' : '-';
    if (!xcode.empty()) {
      out += xcode;
      if (!lines[li].empty()) out += ' ';
    }
    for (char c : lines[li]) {
      const std::size_t add = c == '%' ? 2 : 1;
      if (out.size() - line_start + add > kMaxReplyLine) break;
      auto uc = static_cast<unsigned char>(c);
      if (c == '%') {
        out += "%%";
      } else if (uc < 0x20 || uc == 0x7f) {
        out += ' ';
      } else {
        out += c;
      }
    }
    while (out.size() > line_start && out.back() == ' ' && !xcode.empty() &&
           out.size() - line_start > code_s.size() + 1 + xcode.size())
      out.pop_back();
    if (!last) out += "\r\n";
  }
  return out;
}

}  // namespace backstop::milter
