#include "outbound/gate.h"

#include <algorithm>
#include <cctype>

#include "mail/address.h"

namespace backstop::outbound {
namespace {

using mail::ascii_lower;
using mail::iequals;
using mail::trim;

bool starts_with_ci(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && iequals(s.substr(0, p.size()), p);
}
bool ends_with_ci(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && iequals(s.substr(s.size() - p.size()), p);
}

constexpr std::string_view kListHeaders[] = {"List-Id",          "List-Post",  "List-Unsubscribe",
                                             "List-Subscribe",   "List-Help",  "List-Owner",
                                             "List-Archive"};
constexpr std::string_view kRecipientHeaders[] = {"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"};

bool has_word_ci(std::string_view value, std::string_view word) {
  std::string v = ascii_lower(value);
  std::string w = ascii_lower(word);
  std::size_t pos = 0;
  while ((pos = v.find(w, pos)) != std::string::npos) {
    const bool left = pos == 0 || !std::isalnum(static_cast<unsigned char>(v[pos - 1]));
    const bool right = pos + w.size() >= v.size() || !std::isalnum(static_cast<unsigned char>(v[pos + w.size()]));
    if (left && right) return true;
    pos += w.size();
  }
  return false;
}

// A References field of a long thread holds dozens of ids; the gate needs
// the newest few, so reading more is wasted work on untrusted input.
constexpr std::size_t kMaxIdsPerField = 64;
// Longer "ids" are not Message-IDs (store::kMaxMessageIdBytes is the same bound).
constexpr std::size_t kMaxIdBytes = 400;

// Message-IDs in a field value, in order, without <>.
std::vector<std::string> ids_in(std::string_view v) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (out.size() < kMaxIdsPerField) {
    auto lt = v.find('<', pos);
    if (lt == std::string_view::npos) break;
    auto gt = v.find('>', lt + 1);
    if (gt == std::string_view::npos) break;
    auto id = trim(v.substr(lt + 1, gt - lt - 1));
    if (!id.empty() && id.size() <= kMaxIdBytes) out.emplace_back(id);
    pos = gt + 1;
  }
  return out;
}

}  // namespace

bool is_system_address(std::string_view address) {
  if (address.empty()) return true;
  auto at = address.rfind('@');
  std::string_view local = at == std::string_view::npos ? address : address.substr(0, at);
  return starts_with_ci(local, "owner-") || ends_with_ci(local, "-request") || ends_with_ci(local, "-owner") ||
         iequals(local, "mailer-daemon") || iequals(local, "listserv") || iequals(local, "majordomo") ||
         iequals(local, "postmaster") || ends_with_ci(local, "-bounces") || starts_with_ci(local, "bounce");
}

InboundFacts facts_of(const mail::HeaderList& headers, std::string_view envelope_sender,
                      std::span<const std::string> local_rcpts) {
  InboundFacts f;
  for (auto h : kListHeaders) {
    if (headers.find(h)) f.list = true;
  }
  if (auto p = headers.get("Precedence")) {
    auto v = ascii_lower(trim(*p));
    f.bulk = v == "bulk" || v == "list" || v == "junk";
  }
  if (auto a = headers.get("Auto-Submitted")) {
    auto v = ascii_lower(trim(*a));
    v = v.substr(0, v.find(';'));
    f.auto_submitted = trim(v) != "no";
  }
  if (auto s = headers.get("X-Auto-Response-Suppress")) {
    if (has_word_ci(*s, "all") || has_word_ci(*s, "oof") || has_word_ci(*s, "autoreply")) f.auto_submitted = true;
  }
  f.system_sender = is_system_address(envelope_sender);
  if (auto s = headers.get("X-Spam-Flag")) f.spam = starts_with_ci(trim(*s), "yes");
  if (auto s = headers.get("X-Spam-Status")) f.spam = f.spam || starts_with_ci(trim(*s), "yes");
  // Personal: a local envelope recipient named in a recipient field.
  std::vector<std::string> named;
  for (auto h : kRecipientHeaders) {
    for (auto v : headers.all(h)) {
      auto list = mail::parse_address_list(v);
      if (!list) continue;
      for (const auto& a : *list) named.push_back(ascii_lower(a.addr_spec()));
    }
  }
  for (const auto& r : local_rcpts) {
    if (f.personal.size() == kMaxPersonal) break;
    auto lr = ascii_lower(r);
    if (std::find(named.begin(), named.end(), lr) != named.end() &&
        std::find(f.personal.begin(), f.personal.end(), lr) == f.personal.end()) {
      f.personal.push_back(lr);
    }
  }
  return f;
}

std::string encode(const InboundFacts& f) {
  std::string s = "1";  // format version
  if (f.list) s += 'L';
  if (f.bulk) s += 'B';
  if (f.auto_submitted) s += 'A';
  if (f.system_sender) s += 'S';
  if (f.spam) s += 'X';
  if (f.dnsbl) s += 'D';
  s += '|';
  for (std::size_t i = 0; i < f.personal.size(); ++i) {
    if (i) s += ',';
    s += f.personal[i];
  }
  return s;
}

std::optional<InboundFacts> decode_facts(std::string_view s) {
  auto bar = s.find('|');
  if (s.empty() || s[0] != '1' || bar == std::string_view::npos) return std::nullopt;
  InboundFacts f;
  for (char c : s.substr(1, bar - 1)) {
    switch (c) {
      case 'L': f.list = true; break;
      case 'B': f.bulk = true; break;
      case 'A': f.auto_submitted = true; break;
      case 'S': f.system_sender = true; break;
      case 'X': f.spam = true; break;
      case 'D': f.dnsbl = true; break;
      default: return std::nullopt;
    }
  }
  std::string_view rest = s.substr(bar + 1);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto item = rest.substr(0, comma);
    if (item.empty() || f.personal.size() == kMaxPersonal) return std::nullopt;
    f.personal.emplace_back(item);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return f;
}

std::vector<std::string> referenced_ids(const mail::HeaderList& headers) {
  std::vector<std::string> out;
  auto push = [&](const std::string& id) {
    if (out.size() < kMaxReferencesLooked && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  };
  if (auto v = headers.get("In-Reply-To")) {
    for (const auto& id : ids_in(*v)) push(id);
  }
  if (auto v = headers.get("References")) {
    auto ids = ids_in(*v);
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) push(*it);
  }
  return out;
}

std::string_view auto_kind_name(AutoKind k) {
  switch (k) {
    case AutoKind::kNone: return "none";
    case AutoKind::kAutoreply: return "autoreply";
    case AutoKind::kChallenge: return "challenge";
    case AutoKind::kVirusNotice: return "virus_notice";
    case AutoKind::kSubscriptionConfirm: return "subscription_confirm";
  }
  return "none";
}

GateDecision gate(const GateInput& in) {
  auto refuse = [](std::string reason, std::string text) {
    return GateDecision{GateAction::kRefuse, std::move(reason), std::move(text), false};
  };
  switch (in.kind) {
    case AutoKind::kNone:
      return {};
    case AutoKind::kChallenge:
      if (in.challenge_allowed) return {};
      return refuse("challenge",
                    "challenge/response messages are not sent from this server: they reach forged senders "
                    "(backscatter)");
    case AutoKind::kVirusNotice:
      if (in.recipient_local) return {};
      return {GateAction::kDiscard, "virus_notice", "virus notices to outside senders are discarded: the sender "
                                                    "address of a virus is forged", false};
    case AutoKind::kSubscriptionConfirm:
      if (in.list_host || in.recipient_local) return {};
      return refuse("not_list_host", "subscription confirmations may only be sent by the configured list hosts");
    case AutoKind::kAutoreply:
      break;
  }
  // Autoreplies (RFC 3834 §2, RFC 5230 §4.5).
  if (in.recipient_local) return {};
  if (is_system_address(in.recipient)) {
    return refuse("system_recipient", "automatic reply not sent: <" + in.recipient +
                                          "> is a list or system address (RFC 3834)");
  }
  if (in.original) {
    const InboundFacts& o = *in.original;
    if (o.system_sender) return refuse("system_sender", "automatic reply not sent: the original came from a list or system address");
    if (o.auto_submitted) return refuse("auto_submitted", "automatic reply not sent: the original was itself automatic (Auto-Submitted)");
    if (o.list) return refuse("list", "automatic reply not sent: the original came through a mailing list (List-* headers)");
    if (o.bulk) return refuse("bulk", "automatic reply not sent: the original was bulk mail (Precedence)");
    if (o.spam) return refuse("spam", "automatic reply not sent: the original was marked as spam");
    if (o.dnsbl) return refuse("dnsbl", "automatic reply not sent: the original came from a DNSBL-listed host");
    if (std::find(o.personal.begin(), o.personal.end(), in.user) == o.personal.end()) {
      return refuse("not_personal", "automatic reply not sent: the original was not addressed to <" + in.user +
                                        "> personally (RFC 3834)");
    }
  }
  if (!in.correspondent && !in.any_sender) {
    return refuse("stranger", "automatic reply not sent: <" + in.recipient + "> is not a known correspondent of <" +
                                  in.user + ">; automatic replies to strangers reach forged senders (backscatter)");
  }
  return {GateAction::kPass, {}, {}, true};
}

}  // namespace backstop::outbound
