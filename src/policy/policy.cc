#include "policy/policy.h"

namespace backstop::policy {
namespace {

using classify::Kind;
using correlate::Verdict;

constexpr Kind kKinds[] = {Kind::kBounce, Kind::kVirusNotice, Kind::kChallenge,
                           Kind::kSubscriptionConfirm, Kind::kAutoreply};
constexpr Verdict kVerdicts[] = {Verdict::kOurs, Verdict::kNotOurs, Verdict::kUnknown};

std::size_t vi(Verdict v) { return static_cast<std::size_t>(v); }
std::size_t ki(Kind k) { return static_cast<std::size_t>(k); }

// What the rejected message is, for the reply text.
std::string_view what(Kind k) {
  switch (k) {
    case Kind::kBounce: return "bounce";
    case Kind::kVirusNotice: return "virus notice";
    case Kind::kChallenge: return "challenge/response challenge";
    case Kind::kSubscriptionConfirm: return "subscription confirmation";
    case Kind::kAutoreply: return "automatic reply";
    case Kind::kNone: return "message";
  }
  return "message";
}

std::string reject_text(Kind k, Verdict v) {
  std::string s = "Backscatter rejected: ";
  s += what(k);
  if (k == Kind::kSubscriptionConfirm) {
    s += v == Verdict::kNotOurs ? " for an address that did not ask to subscribe"
                                : " nobody here can be shown to have requested";
  } else {
    s += v == Verdict::kNotOurs ? " of a message this domain did not send"
                                : " that cannot be matched to mail sent from this domain";
  }
  return s;
}

std::string join_signals(const std::vector<std::string>& sig) {
  std::string out;
  for (const auto& s : sig) {
    if (out.size() + s.size() > 200) break;  // keep the header line short
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

}  // namespace

std::string_view action_name(Action a) noexcept {
  switch (a) {
    case Action::kAccept: return "accept";
    case Action::kTag: return "tag";
    case Action::kQuarantine: return "quarantine";
    case Action::kReject: return "reject";
    case Action::kTempfail: return "tempfail";
  }
  return "accept";
}

bool parse_action(std::string_view name, Action* out) noexcept {
  for (Action a : {Action::kAccept, Action::kTag, Action::kQuarantine, Action::kReject,
                   Action::kTempfail}) {
    if (action_name(a) == name) {
      *out = a;
      return true;
    }
  }
  return false;
}

std::string Reply::line() const { return code + " " + status + " " + text; }

std::string sanitize_reply_text(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxReplyText));
  for (unsigned char c : text) {
    if (out.size() >= kMaxReplyText) break;
    if (c < 0x20 || c == 0x7f) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

Table::Table() {
  // DESIGN.md §5.
  auto row = [&](Kind k, Action ours, Action not_ours, Action unknown) {
    cells_[ki(k)] = {ours, not_ours, unknown};
  };
  row(Kind::kNone, Action::kAccept, Action::kAccept, Action::kAccept);
  row(Kind::kBounce, Action::kAccept, Action::kReject, Action::kTag);
  row(Kind::kVirusNotice, Action::kAccept, Action::kReject, Action::kReject);
  row(Kind::kChallenge, Action::kAccept, Action::kReject, Action::kReject);
  row(Kind::kSubscriptionConfirm, Action::kAccept, Action::kTag, Action::kTag);
  row(Kind::kAutoreply, Action::kAccept, Action::kReject, Action::kTag);
}

Table Table::from_config(const config::Config& cfg) {
  Table t;
  for (Kind k : kKinds) {
    for (Verdict v : kVerdicts) {
      std::string key = "actions." + std::string(classify::kind_name(k)) + "." +
                        std::string(correlate::verdict_name(v));
      Action a;
      BACKSTOP_INVARIANT(parse_action(cfg.get_string(key), &a));  // validated by the key table
      t.set(k, v, a);
    }
  }
  t.tag_header_ = cfg.get_string("actions.tag_header");
  return t;
}

Action Table::at(Kind kind, Verdict verdict) const { return cells_[ki(kind)][vi(verdict)]; }
void Table::set(Kind kind, Verdict verdict, Action a) {
  if (kind != Kind::kNone) cells_[ki(kind)][vi(verdict)] = a;
}

Decision Table::decide(const classify::Verdict& v, const correlate::Outcome& o) const {
  Decision d;
  d.action = at(v.kind, o.verdict);
  std::string kind(classify::kind_name(v.kind));
  std::string verdict(correlate::verdict_name(o.verdict));
  d.reason = kind + "/" + verdict + " -> " + std::string(action_name(d.action));
  switch (d.action) {
    case Action::kAccept:
      break;
    case Action::kTag:
    case Action::kQuarantine:
      d.header_name = tag_header_;
      d.header_value = "kind=" + kind + "; verdict=" + verdict + "; signals=" + join_signals(v.signals);
      break;
    case Action::kReject:
      d.reply = {"550", "5.7.1", reject_text(v.kind, o.verdict)};
      break;
    case Action::kTempfail:
      d.reply = {"451", "4.7.1", "Backscatter deferred: " + std::string(what(v.kind)) +
                                     " held for review, try again later"};
      break;
  }
  return d;
}

Decision internal_failure(std::string_view what_failed, bool fail_open) {
  Decision d;
  d.reason = "internal failure: " + sanitize_reply_text(what_failed);
  if (fail_open) {
    d.action = Action::kAccept;
    d.reason += " (on_error = accept)";
  } else {
    d.action = Action::kTempfail;
    d.reply = {"451", "4.3.0", "Temporary local problem, please try again later"};
  }
  return d;
}

}  // namespace backstop::policy
