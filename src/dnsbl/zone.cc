#include "dnsbl/zone.h"

#include "common/text.h"
#include "dnsbl/txt.h"

namespace backstop::dnsbl {

std::string_view action_name(Action a) noexcept {
  switch (a) {
    case Action::kReject: return "reject";
    case Action::kTag: return "tag";
    case Action::kScore: return "score";
  }
  return "reject";
}

Result<Action> parse_action(std::string_view name) {
  if (name == "reject") return Action::kReject;
  if (name == "tag") return Action::kTag;
  if (name == "score") return Action::kScore;
  return fail(Code::kInvalidArgument, "unknown DNSBL action '" + std::string(name) +
                                          "' (reject, tag or score)");
}

std::string_view status_name(LookupStatus s) noexcept {
  switch (s) {
    case LookupStatus::kNotListed: return "not_listed";
    case LookupStatus::kListed: return "listed";
    case LookupStatus::kError: return "error";
  }
  return "error";
}

std::string_view error_name(LookupError e) noexcept {
  switch (e) {
    case LookupError::kNone: return "none";
    case LookupError::kTimeout: return "timeout";
    case LookupError::kServfail: return "servfail";
    case LookupError::kTruncated: return "truncated";
    case LookupError::kMalformed: return "malformed";
    case LookupError::kRefused: return "refused";
    case LookupError::kOther: return "other";
  }
  return "other";
}

bool CheckResult::listed() const noexcept {
  for (const auto& z : zones) {
    if (z.status == LookupStatus::kListed) return true;
  }
  return false;
}

std::string SmtpDecision::reply() const {
  if (verdict != Verdict::kReject) return {};
  return reply_code + " " + status_code + " " + text;
}

namespace {

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

}  // namespace

SmtpDecision decide(const CheckResult& result) {
  SmtpDecision d;
  std::string header;
  for (const auto& z : result.zones) {
    if (z.status != LookupStatus::kListed) continue;
    if (z.action == Action::kReject) {
      if (d.verdict == SmtpDecision::Verdict::kReject) continue;
      d.verdict = SmtpDecision::Verdict::kReject;
      d.reply_code = "554";
      d.status_code = "5.7.1";
      std::string why = !z.txt.empty() ? z.txt : join(z.meanings, ", ");
      std::string text;
      if (!z.message.empty()) {
        text = z.message;
        const std::string txt = sanitize_txt(why, kMaxReplyTxtBytes);
        for (auto at = text.find("%txt%"); at != std::string::npos; at = text.find("%txt%", at + txt.size())) {
          text.replace(at, 5, txt);
        }
      } else {
        text = "Service unavailable; client [" + result.ip + "] blocked using " + z.zone;
        if (!why.empty()) text += "; " + sanitize_txt(why, kMaxReplyTxtBytes);
      }
      d.text = sanitize_txt(text, kMaxReplyTxtBytes + 120);
      continue;
    }
    d.score += z.score;
    if (z.action == Action::kTag) {
      if (!header.empty()) header += ", ";
      header += "zone=" + z.zone + "; code=" + join(z.codes, ",") + "; meaning=" + join(z.meanings, ",");
    }
  }
  if (d.verdict != SmtpDecision::Verdict::kReject && !header.empty()) {
    d.verdict = SmtpDecision::Verdict::kTag;
    d.header_name = std::string(kDnsblHeader);
    d.header_value = sanitize_txt("ip=" + result.ip + "; " + header, kMaxHeaderValueBytes);
  }
  return d;
}

bool should_query(bool safe_mode, std::string_view mail_from) noexcept {
  if (!safe_mode) return true;
  mail_from = text::strip_brackets(mail_from);
  if (mail_from.empty()) return true;
  auto at = mail_from.rfind('@');
  std::string_view local = at == std::string_view::npos ? mail_from : mail_from.substr(0, at);
  return text::iequals(local, "postmaster");
}

void interpret_codes(const ZoneConfig& zone, const std::vector<std::array<std::uint8_t, 4>>& a,
                     ZoneResult* out) {
  out->status = LookupStatus::kNotListed;
  for (const auto& code : a) {
    const std::string text = std::to_string(code[0]) + "." + std::to_string(code[1]) + "." +
                             std::to_string(code[2]) + "." + std::to_string(code[3]);
    // RFC 5782 §2.1: listings are in 127/8. 127.255.255.x is an operator's
    // error signal (e.g. queries through a public resolver); anything else is
    // a broken or hijacking resolver. Neither may list anyone.
    if (code[0] != 127 || (code[1] == 255 && code[2] == 255)) {
      out->status = LookupStatus::kError;
      out->error = LookupError::kMalformed;
      out->detail = "answer " + text + " is not a listing code";
      out->codes.clear();
      out->meanings.clear();
      return;
    }
    if (zone.codes.empty()) {
      // 127.0.0.1 is never a listing (RFC 5782 §5); some resolvers answer it.
      if (code[1] == 0 && code[2] == 0 && code[3] == 1) {
        out->ignored_codes.push_back(text);
        continue;
      }
      out->codes.push_back(text);
      out->meanings.push_back("listed");
      continue;
    }
    auto it = zone.codes.find(text);
    if (it == zone.codes.end()) {
      out->ignored_codes.push_back(text);
      continue;
    }
    out->codes.push_back(text);
    out->meanings.push_back(it->second);
  }
  if (!out->codes.empty()) out->status = LookupStatus::kListed;
}

}  // namespace backstop::dnsbl
