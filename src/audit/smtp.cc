#include "audit/smtp.h"

#include <algorithm>
#include <utility>

namespace backstop::audit {

std::string Reply::first_line() const {
  std::string out = std::to_string(code);
  if (!lines.empty() && !lines.front().empty()) out += " " + lines.front();
  return out;
}

Status ReplyParser::feed(std::string_view bytes, std::vector<Reply>* out) {
  if (failed_) return fail(Code::kProtocol, "SMTP reply stream already failed");
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, nl == std::string_view::npos ? bytes.size() : nl);
    if (pending_.size() + piece.size() > kMaxPendingBytes) {
      failed_ = true;
      return fail(Code::kTooLarge, "SMTP reply line longer than " + std::to_string(kMaxReplyLineBytes) + " bytes");
    }
    pending_.append(piece);
    if (nl == std::string_view::npos) break;
    bytes.remove_prefix(nl + 1);
    std::string l = std::move(pending_);
    pending_.clear();
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (auto st = line(l, out); !st) {
      failed_ = true;
      return st;
    }
  }
  return {};
}

Status ReplyParser::line(std::string_view l, std::vector<Reply>* out) {
  if (l.size() > kMaxReplyLineBytes) {
    return fail(Code::kTooLarge, "SMTP reply line longer than " + std::to_string(kMaxReplyLineBytes) + " bytes");
  }
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (l.size() < 3 || !digit(l[0]) || !digit(l[1]) || !digit(l[2]) || l[0] < '2' || l[0] > '5' || l[1] > '5') {
    return fail(Code::kMalformed, "SMTP reply line does not start with a reply code");
  }
  if (l.size() > 3 && l[3] != ' ' && l[3] != '-') {
    return fail(Code::kMalformed, "SMTP reply code not followed by a space or a hyphen");
  }
  const int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
  const bool more = l.size() > 3 && l[3] == '-';
  const std::string_view text = l.size() > 4 ? l.substr(4) : std::string_view{};
  if (open_ && code != current_.code) {
    return fail(Code::kMalformed, "SMTP multiline reply changes its code");
  }
  if (!open_) {
    current_ = Reply{};
    current_.code = code;
    kept_bytes_ = 0;
    line_count_ = 0;
    open_ = true;
  }
  if (++line_count_ > kMaxReplyLines) {
    return fail(Code::kTooLarge, "SMTP reply of more than " + std::to_string(kMaxReplyLines) + " lines");
  }
  if (kept_bytes_ + text.size() <= kMaxKeptReplyBytes) {
    current_.lines.emplace_back(text);
    kept_bytes_ += text.size();
  } else {
    ++current_.dropped_lines;
  }
  if (!more) {
    open_ = false;
    out->push_back(std::move(current_));
    current_ = Reply{};
  }
  return {};
}

Result<std::string> format_command(std::string_view verb, std::string_view arg) {
  for (std::string_view part : {verb, arg}) {
    if (part.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
      return fail(Code::kInvalidArgument, "SMTP command with CR, LF or NUL");
    }
  }
  std::string out(verb);
  if (!arg.empty()) {
    out += ' ';
    out += arg;
  }
  out += "\r\n";
  return out;
}

bool valid_probe_domain(std::string_view d) noexcept {
  if (d.empty() || d.size() > kMaxDomainBytes) return false;
  if (d.front() == '[') {
    if (d.size() < 3 || d.back() != ']') return false;
    for (char c : d.substr(1, d.size() - 2)) {
      const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' ||
                      c == ':' || c == 'v' || c == 'V' || c == '6';
      if (!ok) return false;
    }
    return true;
  }
  std::size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      if (label == 0 || label > 63) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
    ++label;
  }
  return label > 0 && label <= 63;
}

bool valid_probe_address(std::string_view a) noexcept {
  if (a.size() > kMaxAddressBytes) return false;
  const auto at = a.rfind('@');
  if (at == std::string_view::npos || at == 0) return false;
  for (char c : a.substr(0, at)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view(".!#$%&'*+/=?^_`{|}~-").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return valid_probe_domain(a.substr(at + 1));
}

std::string dot_stuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 32 + 8);
  bool line_start = true;
  for (std::size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') continue;  // CRLF: emitted at '\n'
    if (c == '\n' || c == '\r') {
      out += "\r\n";
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = false;
  }
  if (!line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

ProbeDialogue::ProbeDialogue(ProbePlan plan) : plan_(std::move(plan)) {}

std::string ProbeDialogue::send(Step next, std::string_view verb, std::string_view arg) {
  auto cmd = format_command(verb, arg);
  if (!cmd) {  // the plan was checked by the caller; a bad one ends the probe
    abort("cannot send " + std::string(verb) + ": " + cmd.error().message());
    return {};
  }
  if (verb == "RCPT") ++rcpts_;
  step_ = next;
  outcome_.transcript.emplace_back(cmd->substr(0, cmd->size() - 2), std::string());
  return std::move(*cmd);
}

std::string ProbeDialogue::quit() { return send(Step::kQuit, "QUIT"); }

std::string ProbeDialogue::after_null_sender() {
  if (plan_.capture) return send(Step::kCaptureMail, "MAIL", "FROM:<" + plan_.capture_sender + ">");
  return quit();
}

void ProbeDialogue::abort(std::string why) {
  if (outcome_.aborted.empty()) outcome_.aborted = std::move(why);
  step_ = Step::kDone;
}

std::string ProbeDialogue::on_reply(const Reply& r) {
  if (step_ == Step::kDone) return {};
  if (!outcome_.transcript.empty() && outcome_.transcript.back().second.empty() && step_ != Step::kGreeting) {
    outcome_.transcript.back().second = r.first_line();
  } else {
    outcome_.transcript.emplace_back("(connect)", r.first_line());
  }
  if (r.code == 421 && step_ != Step::kQuit) {
    abort("the server closed the session: " + r.first_line());
    return {};
  }
  const std::string rcpt_random = "TO:<" + plan_.random_local + "@" + plan_.domain + ">";
  const std::string rcpt_postmaster = "TO:<postmaster@" + plan_.domain + ">";
  switch (step_) {
    case Step::kGreeting:
      outcome_.greeting = r;
      if (r.kind() != 2) {
        abort("the server refused the session: " + r.first_line());
        return format_command("QUIT").value_or("");
      }
      return send(Step::kEhlo, "EHLO", plan_.helo);
    case Step::kEhlo:
      if (r.kind() == 2) {
        outcome_.helo = r;
        return send(Step::kMail, "MAIL", "FROM:<" + plan_.sender + ">");
      }
      outcome_.ehlo_refused = true;
      return send(Step::kHelo, "HELO", plan_.helo);
    case Step::kHelo:
      outcome_.helo = r;
      if (r.kind() != 2) {
        abort("the server refused HELO: " + r.first_line());
        return format_command("QUIT").value_or("");
      }
      return send(Step::kMail, "MAIL", "FROM:<" + plan_.sender + ">");
    case Step::kMail:
      outcome_.mail = r;
      if (r.kind() == 2) return send(Step::kRcptRandom, "RCPT", rcpt_random);
      return send(Step::kMailNull, "MAIL", "FROM:<>");
    case Step::kRcptRandom:
      outcome_.rcpt_random = r;
      return send(Step::kRcptPostmaster, "RCPT", rcpt_postmaster);
    case Step::kRcptPostmaster:
      outcome_.rcpt_postmaster = r;
      return send(Step::kRset1, "RSET");
    case Step::kRset1:
      return send(Step::kMailNull, "MAIL", "FROM:<>");
    case Step::kMailNull:
      outcome_.mail_null = r;
      if (r.kind() == 2) return send(Step::kRcptNullPostmaster, "RCPT", rcpt_postmaster);
      return after_null_sender();
    case Step::kRcptNullPostmaster:
      outcome_.rcpt_null_postmaster = r;
      return send(Step::kRset2, "RSET");
    case Step::kRset2:
      return after_null_sender();
    case Step::kCaptureMail:
      outcome_.capture_mail = r;
      if (r.kind() == 2) return send(Step::kCaptureRcpt, "RCPT", rcpt_random);
      return quit();
    case Step::kCaptureRcpt:
      outcome_.capture_rcpt = r;
      if (r.kind() == 2) return send(Step::kData, "DATA");
      return quit();
    case Step::kData:
      outcome_.data = r;
      if (r.code == 354) {
        step_ = Step::kBody;
        outcome_.transcript.emplace_back("(message)", std::string());
        return dot_stuff(plan_.message);
      }
      return quit();
    case Step::kBody:
      outcome_.end_of_data = r;
      return quit();
    case Step::kQuit:
      step_ = Step::kDone;
      return {};
    case Step::kDone:
      break;
  }
  return {};
}

}  // namespace backstop::audit

namespace backstop::audit {
namespace {

// The address inside "FROM:<...>" / "TO:<...>" (parameters after it ignored).
std::string path_of(std::string_view arg) {
  const auto colon = arg.find(':');
  if (colon == std::string_view::npos) return {};
  std::string_view rest = arg.substr(colon + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (!rest.empty() && rest.front() == '<') {
    const auto close = rest.find('>');
    return std::string(rest.substr(1, close == std::string_view::npos ? rest.size() - 1 : close - 1));
  }
  return std::string(rest.substr(0, rest.find(' ')));
}

bool verb_is(std::string_view line, std::string_view verb) {
  if (line.size() < verb.size()) return false;
  for (std::size_t i = 0; i < verb.size(); ++i) {
    char c = line[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != verb[i]) return false;
  }
  return line.size() == verb.size() || line[verb.size()] == ' ' || line[verb.size()] == ':';
}

}  // namespace

std::string ReceiverSession::greeting(std::string_view host) const {
  std::string h;
  for (char c : host) {
    if (c > ' ' && c < 127) h += c;
  }
  return "220 " + (h.empty() ? std::string("capture") : h) + " ESMTP backstop audit capture\r\n";
}

std::vector<CapturedMessage> ReceiverSession::take_messages() { return std::exchange(done_, {}); }

std::string ReceiverSession::command(std::string_view l) {
  if (verb_is(l, "EHLO") || verb_is(l, "HELO")) {
    have_mail_ = false;
    return verb_is(l, "EHLO") ? "250-capture\r\n250 8BITMIME\r\n" : "250 capture\r\n";
  }
  if (verb_is(l, "MAIL")) {
    if (done_.size() >= kMaxCapturedMessages) return "452 4.5.3 too many messages\r\n";
    current_ = CapturedMessage{};
    current_.mail_from = path_of(l.substr(4));
    have_mail_ = true;
    return "250 2.1.0 ok\r\n";
  }
  if (verb_is(l, "RCPT")) {
    if (!have_mail_) return "503 5.5.1 MAIL first\r\n";
    if (current_.rcpts.size() >= kMaxCapturedRcpts) return "452 4.5.3 too many recipients\r\n";
    current_.rcpts.push_back(path_of(l.substr(4)));
    return "250 2.1.5 ok\r\n";
  }
  if (verb_is(l, "DATA")) {
    if (!have_mail_ || current_.rcpts.empty()) return "503 5.5.1 RCPT first\r\n";
    in_data_ = true;
    too_large_ = false;
    return "354 end with .\r\n";
  }
  if (verb_is(l, "RSET")) {
    have_mail_ = false;
    current_ = CapturedMessage{};
    return "250 2.0.0 ok\r\n";
  }
  if (verb_is(l, "NOOP")) return "250 2.0.0 ok\r\n";
  if (verb_is(l, "QUIT")) {
    closed_ = true;
    return "221 2.0.0 bye\r\n";
  }
  return "502 5.5.2 not implemented\r\n";
}

std::string ReceiverSession::feed(std::string_view bytes) {
  std::string out;
  while (!bytes.empty() && !closed_) {
    const auto nl = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, nl == std::string_view::npos ? bytes.size() : nl);
    const std::size_t limit = in_data_ ? kMaxDataLineBytes : kMaxCommandLineBytes;
    if (pending_.size() + piece.size() > limit + 1) {
      out += in_data_ ? "552 5.3.4 line too long\r\n" : "500 5.5.2 line too long\r\n";
      closed_ = true;
      break;
    }
    pending_.append(piece);
    if (nl == std::string_view::npos) break;
    bytes.remove_prefix(nl + 1);
    std::string line = std::move(pending_);
    pending_.clear();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!in_data_) {
      out += command(line);
      continue;
    }
    if (line == ".") {
      in_data_ = false;
      have_mail_ = false;
      if (too_large_) {
        out += "552 5.3.4 message too large\r\n";
      } else {
        done_.push_back(std::move(current_));
        out += "250 2.0.0 captured\r\n";
      }
      current_ = CapturedMessage{};
      continue;
    }
    std::string_view l = line;
    if (l.starts_with('.')) l.remove_prefix(1);
    if (current_.data.size() + l.size() + 2 > kMaxCapturedMessageBytes) {
      too_large_ = true;
      continue;
    }
    current_.data.append(l);
    current_.data += "\r\n";
  }
  return out;
}

}  // namespace backstop::audit
