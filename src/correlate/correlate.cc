#include "correlate/correlate.h"

#include <algorithm>
#include <span>

#include "common/text.h"
#include "mail/address.h"
#include "mail/dsn_values.h"
#include "mail/header.h"
#include "mail/received.h"

namespace backstop::correlate {
namespace {

// Shell-style match of `pat` (only '*' is special) against `s`, both lower-case.
bool glob(std::string_view pat, std::string_view s) {
  std::size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pat.size() && pat[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

std::string_view domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
}

// Strips a leading quote marker ("> ", ">>", "| ") from a body line.
std::string_view unquote(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && (line[i] == '>' || line[i] == '|' || line[i] == ' ')) {
    if (line[i] == ' ' && (i == 0 || (line[i - 1] != '>' && line[i - 1] != '|'))) break;
    ++i;
  }
  return line.substr(i);
}

}  // namespace

std::string_view verdict_name(Verdict v) noexcept {
  switch (v) {
    case Verdict::kOurs: return "ours";
    case Verdict::kNotOurs: return "not_ours";
    case Verdict::kUnknown: return "unknown";
  }
  return "unknown";
}

Result<RelaySet> RelaySet::parse(const std::vector<std::string>& patterns) {
  RelaySet set;
  for (const auto& raw : patterns) {
    std::string p = text::ascii_lower(mail::trim(raw));
    if (p.empty()) continue;
    if (auto net = ip::parse_network(p)) {
      set.networks_.push_back(*net);
      continue;
    }
    if (p.find_first_of(" \t/@[]") != std::string::npos) {
      return fail(Code::kInvalidArgument, "relays.ours: '" + raw + "' is neither a host name nor a network");
    }
    if (p.front() == '.') p = "*" + p;
    set.names_.push_back(std::move(p));
  }
  return set;
}

bool RelaySet::matches_host(std::string_view host) const {
  if (host.empty()) return false;
  std::string h = text::ascii_lower(host);
  while (!h.empty() && h.back() == '.') h.pop_back();
  return std::any_of(names_.begin(), names_.end(), [&](const std::string& p) { return glob(p, h); });
}

bool RelaySet::matches_ip(std::string_view text) const {
  auto a = ip::parse(text);
  if (!a) return false;
  return std::any_of(networks_.begin(), networks_.end(),
                     [&](const ip::Network& n) { return ip::contains(n, *a); });
}

std::vector<mail::Received> inline_received_hops(std::string_view text) {
  std::vector<mail::Received> hops;
  std::size_t pos = 0;
  std::string current;
  bool in_field = false;
  auto flush = [&] {
    if (in_field && hops.size() < kMaxInlineReceived) {
      if (auto r = mail::parse_received(current)) hops.push_back(std::move(*r));
    }
    current.clear();
    in_field = false;
  };
  while (pos < text.size() && hops.size() < kMaxInlineReceived) {
    auto nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.size() - pos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view body = unquote(line);
    if (in_field && !body.empty() && (body[0] == ' ' || body[0] == '\t')) {
      if (current.size() < 4096) {  // a Received value longer than this is not real
        current += ' ';
        current += mail::trim(body);
      }
      continue;
    }
    flush();
    if (body.size() > 9 && mail::iequals(body.substr(0, 9), "received:")) {
      in_field = true;
      current = std::string(mail::trim(body.substr(9)));
    }
  }
  flush();
  return hops;
}

std::vector<InlineHop> inline_received(std::string_view text) {
  std::vector<InlineHop> out;
  for (auto& r : inline_received_hops(text)) {
    out.push_back({std::move(r.by), std::move(r.from_helo), std::move(r.from_rdns), std::move(r.from_ip)});
  }
  return out;
}

std::string untagged(std::string_view rcpt) {
  std::string a = text::ascii_lower(rcpt);
  // prvs=KDDDSSSSSS=local@domain (batv/batv.h): the tag is 10 characters.
  if (a.starts_with("prvs=") && a.size() > 16 && a[15] == '=') a.erase(0, 16);
  return a;
}

bool parse_received_format(std::string_view name, ReceivedFormat* out) noexcept {
  if (name == "any") *out = ReceivedFormat::kAny;
  else if (name == "postfix") *out = ReceivedFormat::kPostfix;
  else if (name == "exim") *out = ReceivedFormat::kExim;
  else if (name == "sendmail") *out = ReceivedFormat::kSendmail;
  else return false;
  return true;
}

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && mail::iequals(s.substr(0, prefix.size()), prefix);
}

// An SMTP-family protocol word (RFC 3848 and what MTAs write: SMTP, ESMTPSA,
// LMTP, UTF8SMTPS...).
bool smtp_protocol(std::string_view w) {
  for (std::string_view p : {"smtp", "esmtp", "lmtp", "utf8smtp", "utf8esmtp", "utf8lmtp"}) {
    if (starts_with_ci(w, p)) return true;
  }
  return false;
}

bool alnum_id(std::string_view id, std::string_view extra) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool in_format(const mail::Received& hop, ReceivedFormat f) {
  switch (f) {
    case ReceivedFormat::kAny:
      return true;
    case ReceivedFormat::kPostfix:
      // smtpd: "by HOST (Postfix) with ESMTPSA id 4ABC"; pickup: "by HOST
      // (Postfix, from userid 1000) id 4ABC" (no with).
      return starts_with_ci(hop.by_comment, "postfix") && alnum_id(hop.id, "") &&
             (hop.with.empty() || smtp_protocol(hop.with));
    case ReceivedFormat::kExim:
      return starts_with_ci(hop.with_comment, "exim") && alnum_id(hop.id, "-") &&
             hop.id.find('-') != std::string::npos;
    case ReceivedFormat::kSendmail:
      return !hop.by_comment.empty() && hop.by_comment[0] >= '0' && hop.by_comment[0] <= '9' &&
             hop.by_comment.find('/') != std::string::npos && smtp_protocol(hop.with) && alnum_id(hop.id, "");
  }
  return false;
}

namespace {

// The Message-IDs a response quotes: its own, In-Reply-To and References,
// sorted and unique.
std::vector<std::string> quoted_ids(const classify::Verdict& v) {
  std::vector<std::string> ids;
  if (!v.refs.message_id.empty()) ids.push_back(v.refs.message_id);
  for (const auto& id : v.refs.in_reply_to) ids.push_back(id);
  for (const auto& id : v.refs.references) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// A key the store takes (others cannot be in it: skipped, not an error).
bool storable_id(std::string_view id) {
  return !id.empty() && id.size() <= store::kMaxMessageIdBytes && id.find('\0') == std::string_view::npos;
}
bool storable_address(std::string_view a) {
  return !a.empty() && a.size() <= store::kMaxAddressBytes && a.find('\0') == std::string_view::npos;
}

// Runs `batch` in pieces of at most store::kMaxBatchReads reads.
Result<store::ReadBatchResult> read_all(store::Store& st, const store::ReadBatch& batch) {
  store::ReadBatchResult all;
  std::size_t i = 0, j = 0, k = 0;
  bool first = batch.ledger_first_time;
  do {
    store::ReadBatch part;
    part.ledger_first_time = first;
    std::size_t room = store::kMaxBatchReads - (first ? 1 : 0);
    for (; i < batch.ledger_ids.size() && room > 0; ++i, --room) part.ledger_ids.push_back(batch.ledger_ids[i]);
    for (; k < batch.ledger_finds.size() && room > 0; ++k, --room) part.ledger_finds.push_back(batch.ledger_finds[k]);
    for (; j < batch.correspondents.size() && room > 0; ++j, --room) part.correspondents.push_back(batch.correspondents[j]);
    auto r = st.read_batch(part);
    BACKSTOP_TRY(r);
    for (auto& e : r->ledger) all.ledger.push_back(std::move(e));
    for (auto& f : r->finds) all.finds.push_back(std::move(f));
    for (auto& t : r->correspondents) all.correspondents.push_back(t);
    if (first) all.first_time = r->first_time;
    first = false;
  } while (i < batch.ledger_ids.size() || j < batch.correspondents.size() || k < batch.ledger_finds.size());
  return all;
}

// The ENVID forms to look up: the value as written and, when it is valid
// xtext, decoded (Postfix writes the decoded ENVID, Exim the xtext).
std::vector<std::string> envid_keys(std::string_view value) {
  std::vector<std::string> out;
  const std::string_view raw = mail::trim(value);
  if (raw.empty()) return out;
  if (auto d = mail::decode_envid(raw); d && !d->empty() && d->size() <= store::kMaxEnvidBytes) out.push_back(*d);
  bool printable = raw.size() <= store::kMaxEnvidBytes;
  for (char c : raw) printable &= c >= ' ' && c <= '~';
  if (printable && (out.empty() || out.front() != raw)) out.emplace_back(raw);
  return out;
}

}  // namespace

Correlator::Correlator(Settings settings, store::Store* store, const TagVerifier* tags,
                       const Clock* clock)
    : settings_(std::move(settings)), store_(store), tags_(tags), clock_(clock) {
  for (auto& d : settings_.local_domains) d = text::ascii_lower(d);
}

bool Correlator::is_local(std::string_view address) const {
  std::string d = text::ascii_lower(domain_of(address));
  if (d.empty()) return false;
  for (const auto& entry : settings_.local_domains) {
    if (entry.front() == '.') {
      if (d.size() > entry.size() && d.ends_with(entry)) return true;
    } else if (d == entry) {
      return true;
    }
  }
  return false;
}

void Correlator::check_ledger(const std::vector<std::string>& ids, const std::vector<std::string>& asked,
                              const store::ReadBatchResult& found, Outcome* out) const {
  if (ids.empty()) return;
  for (std::size_t i = 0; i < asked.size(); ++i) {
    if (found.ledger[i]) {
      out->evidence.push_back({"ledger", Verdict::kOurs, "message-id <" + asked[i] + "> was sent by us"});
      return;
    }
  }
  std::int64_t now = clock_->now_unix();
  std::string what = ids.size() == 1 ? "message-id <" + ids[0] + "> is not in the ledger"
                                      : std::to_string(ids.size()) + " referenced message-ids are not in the ledger";
  if (!found.first_time || now - *found.first_time < settings_.warmup_seconds) {
    out->evidence.push_back({"warmup", Verdict::kUnknown, what + ", but the ledger is still warming up"});
  } else {
    out->evidence.push_back({"ledger", Verdict::kNotOurs, what});
  }
}

Correlator::Window Correlator::recipient_window(const classify::References& refs, std::int64_t now) const {
  const std::int64_t w = settings_.recipient_window_seconds;
  if (auto a = mail::parse_date_time(refs.arrival_date)) {
    return {*a - w - kClockSkewSeconds, *a + kClockSkewSeconds, "its Arrival-Date " + text::iso_time(*a)};
  }
  if (auto d = mail::parse_date_time(refs.response_date)) {
    return {*d - 2 * w - kClockSkewSeconds, *d + kClockSkewSeconds, "its Date " + text::iso_time(*d)};
  }
  return {now - 2 * w - kClockSkewSeconds, now + kClockSkewSeconds, "its arrival here"};
}

std::vector<std::string> Correlator::recipient_keys(const classify::References& refs) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < refs.recipients.size() && i < kMaxRecipientKeys; ++i) {
    for (const std::string* a : {&refs.recipients[i].original_recipient, &refs.recipients[i].final_recipient}) {
      std::string k = text::ascii_lower(*a);
      if (k.find('@') == std::string::npos || !storable_address(k)) continue;
      if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(std::move(k));
    }
  }
  return out;
}

void Correlator::check_envid(std::string_view value, std::span<const std::vector<store::LedgerItem>> found,
                             Outcome* out) const {
  if (found.empty()) return;
  for (const auto& items : found) {
    if (items.empty()) continue;
    out->evidence.push_back({"envid", Verdict::kOurs,
                             "Original-Envelope-Id " + text::log_safe(mail::trim(value)) + " is the ENVID of message-id <" +
                                 items.front().message_id + ">, sent by us"});
    return;
  }
  // Not every path records an ENVID (mail that bypassed the milter, an
  // ENVID added after us): a miss proves nothing.
  out->evidence.push_back({"envid", Verdict::kUnknown,
                           "Original-Envelope-Id " + text::log_safe(mail::trim(value)) + " is not in the ledger"});
}

void Correlator::check_recipients(const classify::References& refs, const mail::Envelope& envelope,
                                  const Window& window, const std::vector<std::string>& asked,
                                  std::span<const std::vector<store::LedgerItem>> found,
                                  std::optional<std::int64_t> first_time, Outcome* out) const {
  if (asked.empty()) return;
  // Who the original's sender was: the bounce's local recipients, and the
  // sender the DSN names. A message of ours to that address from someone
  // else is not this message.
  std::vector<std::string> senders;
  for (const auto& r : envelope.rcpts) {
    if (is_local(r)) senders.push_back(untagged(r));
  }
  if (!refs.original_sender.empty()) senders.push_back(untagged(refs.original_sender));
  std::size_t other_sender = 0;
  for (std::size_t i = 0; i < found.size() && i < asked.size(); ++i) {
    for (const auto& item : found[i]) {
      const std::string sender = text::ascii_lower(item.entry.sender);
      if (!senders.empty() && std::find(senders.begin(), senders.end(), sender) == senders.end()) {
        ++other_sender;
        continue;
      }
      out->evidence.push_back({"recipient", Verdict::kOurs,
                               "message-id <" + item.message_id + "> from " + (sender.empty() ? "<>" : sender) +
                                   " to " + asked[i] + " was sent by us at " + text::iso_time(item.entry.time) +
                                   ", within the window before " + window.basis});
      return;
    }
  }
  std::string what = "no message to " + asked.front() + (asked.size() > 1 ? " (or " + std::to_string(asked.size() - 1) + " more)" : "") +
                     " in the ledger between " + text::iso_time(window.from) + " and " + text::iso_time(window.to) +
                     " (" + window.basis + ")";
  if (other_sender > 0) what += "; " + std::to_string(other_sender) + " from other senders of ours";
  const std::int64_t now = clock_->now_unix();
  if (!first_time || *first_time > window.from || now - *first_time < settings_.warmup_seconds) {
    out->evidence.push_back({"warmup", Verdict::kUnknown, what + ", but the ledger does not cover that window yet"});
  } else if (window.from < now - settings_.ledger_ttl_seconds) {
    out->evidence.push_back({"recipient", Verdict::kUnknown, what + ", but that is older than the ledger keeps"});
  } else {
    // Weak: forwarding and aliases rewrite a DSN's recipients, so this never
    // decides alone (docs/correlation.md).
    out->evidence.push_back({"recipient", Verdict::kUnknown, what + ": weak evidence against, never deciding alone"});
  }
}

Correlator::Chain Correlator::judge_chain(const std::vector<mail::Received>& hops, const std::string& reporting_mta,
                                          std::string* detail) const {
  const RelaySet& r = settings_.relays;
  const std::size_t n = hops.size();
  if (n == 0) return Chain::kNone;
  // The topmost hop that records where the message came from: written by
  // the side that reports (a spammer's lines can only sit below it).
  std::size_t top = n;
  for (std::size_t i = 0; i < n; ++i) {
    if (!hops[i].from_ip.empty() || !hops[i].from_rdns.empty() || !hops[i].from_helo.empty()) {
      top = i;
      break;
    }
  }
  if (top < n && (r.matches_ip(hops[top].from_ip) || r.matches_host(hops[top].from_rdns))) {
    const auto& h = hops[top];
    *detail = "the reporting side (" + (h.by.empty() ? std::string("hop 1") : h.by) +
              ") received the original from our relay " + (r.matches_ip(h.from_ip) ? h.from_ip : h.from_rdns);
    return Chain::kOurs;
  }
  const bool reporter_ours = reporting_mta.empty() || r.matches_host(reporting_mta);
  for (std::size_t i = 0; i < n && i <= top; ++i) {
    if (r.matches_host(hops[i].by) && in_format(hops[i], settings_.received_format) && reporter_ours) {
      *detail = "the original's chain starts at our relay " + hops[i].by + " (its own Received line, no other receipt above it)";
      return Chain::kOurs;
    }
  }
  // The hop to name: the first whose by-host is ours (a forged line of ours
  // reads so), else the first that names our relays at all.
  std::size_t pick = n;
  for (std::size_t i = 0; i < n && pick == n; ++i) {
    if (r.matches_host(hops[i].by)) pick = i;
  }
  for (std::size_t i = 0; i < n && pick == n; ++i) {
    const auto& h = hops[i];
    if (r.matches_host(h.from_rdns) || r.matches_host(h.from_helo) || r.matches_ip(h.from_ip)) pick = i;
  }
  if (pick < n) {
    const std::size_t i = pick;
    const auto& h = hops[i];
    std::string_view named;
    for (std::string_view name : {std::string_view(h.by), std::string_view(h.from_rdns), std::string_view(h.from_helo)}) {
      if (named.empty() && r.matches_host(name)) named = name;
    }
    if (named.empty()) named = h.from_ip;
    std::string why;
    if (top < i) {
      const auto& t = hops[top];
      why = "the receipt above it (by " + (t.by.empty() ? std::string("?") : t.by) + ") is from " +
            (t.from_ip.empty() ? (t.from_rdns.empty() ? t.from_helo : t.from_rdns) : t.from_ip) + ", not from our relays";
    } else if (r.matches_host(h.by) && !in_format(h, settings_.received_format)) {
      why = "it is not in our relays' Received format";
    } else if (r.matches_host(h.by) && !reporter_ours) {
      why = "the DSN was reported by " + reporting_mta + ", whose own receipt is missing above it";
    } else {
      why = "only its HELO name is ours (the client chooses it)";
    }
    *detail = "hop " + std::to_string(i + 1) + " names our relay " + std::string(named) + ", but " + why +
              ": not counted";
    return Chain::kInconsistent;
  }
  *detail = "the original's Received chain (" + std::to_string(n) + " hops) never passed through our relays";
  return Chain::kForeign;
}

void Correlator::check_relays(const classify::Verdict& v, const mail::Message* m,
                              Outcome* out) const {
  if (settings_.relays.empty()) return;
  std::vector<std::vector<mail::Received>> chains;
  chains.push_back(v.refs.original_hops);
  if (m) {
    chains.push_back(inline_received_hops(m->text));
    chains.push_back(inline_received_hops(m->embedded_text));
  }
  std::string inconsistent, foreign;
  for (const auto& chain : chains) {
    std::string detail;
    switch (judge_chain(chain, v.refs.reporting_mta, &detail)) {
      case Chain::kOurs:
        out->evidence.push_back({"relay", Verdict::kOurs, detail});
        return;
      case Chain::kInconsistent:
        if (inconsistent.empty()) inconsistent = detail;
        break;
      case Chain::kForeign:
        if (foreign.empty()) foreign = detail;
        break;
      case Chain::kNone:
        break;
    }
  }
  if (!inconsistent.empty()) {
    out->evidence.push_back({"relay", Verdict::kUnknown, inconsistent});
  } else if (!foreign.empty()) {
    out->evidence.push_back({"relay", Verdict::kNotOurs, foreign});
  }
}

std::string Correlator::responder_of(const mail::Envelope& e, const mail::Message* m) const {
  // The responder: the From of the response (autoreplies often come from the
  // null sender, RFC 3834 §3.1.4), else the envelope sender.
  std::string responder;
  if (m) {
    if (auto from = m->headers.get("From")) {
      auto list = mail::parse_address_list(*from);
      if (list && !list->empty()) responder = text::ascii_lower((*list)[0].addr_spec());
    }
  }
  if (responder.empty()) responder = text::ascii_lower(e.mail_from);
  if (responder.empty() || responder.find('@') == std::string::npos) return {};
  return responder;
}

Result<Outcome> Correlator::correlate(const classify::Verdict& verdict, const mail::Envelope& envelope,
                                      const mail::Message* message) const {
  Plan p = plan(verdict, envelope, message);
  Result<store::ReadBatchResult> found = store::ReadBatchResult{};
  if (p.reads()) found = read_all(*store_, p.batch);
  return conclude(std::move(p), std::move(found), verdict, envelope, message);
}

Correlator::Plan Correlator::plan(const classify::Verdict& verdict, const mail::Envelope& envelope,
                                  const mail::Message* message) const {
  Plan p;
  if (verdict.kind == classify::Kind::kNone) return p;
  Outcome& out = p.partial;
  if (tags_) {
    for (const auto& rcpt : envelope.rcpts) {
      if (!is_local(rcpt)) continue;
      switch (tags_->verify(rcpt)) {
        case TagStatus::kValid:
          out.evidence.push_back({"batv", Verdict::kOurs, "valid BATV tag on " + rcpt});
          break;
        case TagStatus::kInvalid:
          out.evidence.push_back({"batv", Verdict::kNotOurs, "invalid BATV tag on " + rcpt});
          break;
        case TagStatus::kExpired:
          out.evidence.push_back({"batv", Verdict::kNotOurs, "expired BATV tag on " + rcpt});
          break;
        case TagStatus::kNone:
          break;
      }
    }
  }
  if (!store_) return p;
  // The store's reads in one batch (one round trip on a remote store, and
  // one more when the ledger's index names entries): the ledger entries of
  // the quoted Message-IDs, of the DSN's ENVID and recipients, the ledger's
  // first time, and whether each local recipient wrote to the responder.
  store::ReadBatch& batch = p.batch;
  p.ids = quoted_ids(verdict);
  for (const auto& id : p.ids) {
    if (storable_id(id)) batch.ledger_ids.push_back(id);
  }
  const std::int64_t now = clock_->now_unix();
  const std::vector<std::string> envids = envid_keys(verdict.refs.original_envelope_id);
  p.envids = envids.size();
  for (const auto& e : envids) {
    batch.ledger_finds.push_back({store::LedgerKey::kEnvid, e, now - settings_.ledger_ttl_seconds,
                                  now + kClockSkewSeconds});
  }
  p.window = recipient_window(verdict.refs, now);
  p.dsn_rcpts = recipient_keys(verdict.refs);
  for (const auto& a : p.dsn_rcpts) {
    batch.ledger_finds.push_back({store::LedgerKey::kRecipient, a, p.window.from, p.window.to});
  }
  batch.ledger_first_time = !p.ids.empty() || !p.dsn_rcpts.empty();
  p.responder = responder_of(envelope, message);
  if (storable_address(p.responder)) {
    for (const auto& rcpt : envelope.rcpts) {
      std::string local = text::ascii_lower(rcpt);
      if (!is_local(rcpt) || !storable_address(local)) continue;
      p.rcpts.push_back(rcpt);
      batch.correspondents.emplace_back(std::move(local), p.responder);
    }
  }
  return p;
}

Result<Outcome> Correlator::conclude(Plan p, Result<store::ReadBatchResult> found, const classify::Verdict& verdict,
                                     const mail::Envelope& envelope, const mail::Message* message) const {
  Outcome out = std::move(p.partial);
  if (verdict.kind == classify::Kind::kNone) return out;
  if (p.reads()) {
    if (!found) return fail(Code::kUnavailable, "ledger lookup failed: " + found.error().message());
    const store::ReadBatch& batch = p.batch;
    // A store that answered a different shape is damaged, not evidence.
    if (found->ledger.size() != batch.ledger_ids.size() || found->finds.size() != batch.ledger_finds.size() ||
        found->correspondents.size() != batch.correspondents.size()) {
      return fail(Code::kUnavailable, "ledger lookup failed: the store answered the wrong number of reads");
    }
    check_ledger(p.ids, batch.ledger_ids, *found, &out);
    std::span<const std::vector<store::LedgerItem>> finds(found->finds);
    check_envid(verdict.refs.original_envelope_id, finds.subspan(0, p.envids), &out);
    check_recipients(verdict.refs, envelope, p.window, p.dsn_rcpts, finds.subspan(p.envids),
                     found->first_time, &out);
    for (std::size_t i = 0; i < p.rcpts.size(); ++i) {
      if (found->correspondents[i]) {
        out.evidence.push_back({"correspondent", Verdict::kOurs, p.rcpts[i] + " has written to " + p.responder});
        break;
      }
    }
  }
  check_relays(verdict, message, &out);

  bool ours = false, not_ours = false;
  for (const auto& e : out.evidence) {
    ours |= e.points_to == Verdict::kOurs;
    not_ours |= e.points_to == Verdict::kNotOurs;
  }
  out.verdict = ours ? Verdict::kOurs : not_ours ? Verdict::kNotOurs : Verdict::kUnknown;
  return out;
}

}  // namespace backstop::correlate
