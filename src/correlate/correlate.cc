#include "correlate/correlate.h"

#include <algorithm>

#include "common/text.h"
#include "mail/address.h"
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

std::vector<InlineHop> inline_received(std::string_view text) {
  std::vector<InlineHop> hops;
  std::size_t pos = 0;
  std::string current;
  bool in_field = false;
  auto flush = [&] {
    if (in_field && hops.size() < kMaxInlineReceived) {
      if (auto r = mail::parse_received(current)) {
        hops.push_back({r->by, r->from_helo, r->from_rdns, r->from_ip});
      }
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
  std::size_t i = 0, j = 0;
  bool first = batch.ledger_first_time;
  do {
    store::ReadBatch part;
    part.ledger_first_time = first;
    std::size_t room = store::kMaxBatchReads - (first ? 1 : 0);
    for (; i < batch.ledger_ids.size() && room > 0; ++i, --room) part.ledger_ids.push_back(batch.ledger_ids[i]);
    for (; j < batch.correspondents.size() && room > 0; ++j, --room) part.correspondents.push_back(batch.correspondents[j]);
    auto r = st.read_batch(part);
    BACKSTOP_TRY(r);
    for (auto& e : r->ledger) all.ledger.push_back(std::move(e));
    for (auto& t : r->correspondents) all.correspondents.push_back(t);
    if (first) all.first_time = r->first_time;
    first = false;
  } while (i < batch.ledger_ids.size() || j < batch.correspondents.size());
  return all;
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

void Correlator::check_relays(const classify::Verdict& v, const mail::Message* m,
                              Outcome* out) const {
  if (settings_.relays.empty()) return;
  std::size_t hops = 0;
  auto hit = [&](std::string_view what) {
    out->evidence.push_back({"relay", Verdict::kOurs,
                             "the original passed through our relay " + std::string(what)});
  };
  for (const auto& h : v.refs.original_received_hosts) {
    ++hops;
    if (settings_.relays.matches_host(h)) return hit(h);
  }
  for (const auto& a : v.refs.original_received_ips) {
    ++hops;
    if (settings_.relays.matches_ip(a)) return hit(a);
  }
  if (m) {
    for (std::string_view text : {std::string_view(m->text), std::string_view(m->embedded_text)}) {
      for (const auto& h : inline_received(text)) {
        ++hops;
        for (std::string_view name : {std::string_view(h.by), std::string_view(h.from_helo),
                                      std::string_view(h.from_rdns)}) {
          if (settings_.relays.matches_host(name)) return hit(name);
        }
        if (settings_.relays.matches_ip(h.from_ip)) return hit(h.from_ip);
      }
    }
  }
  if (hops > 0) {
    out->evidence.push_back({"relay", Verdict::kNotOurs,
                             "the original's Received chain (" + std::to_string(hops) +
                                 " hops) never passed through our relays"});
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
  Outcome out;
  if (verdict.kind == classify::Kind::kNone) return out;
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
  if (store_) {
    // The store's reads in one batch (one round trip on a remote store): the
    // ledger entries of the quoted Message-IDs, the ledger's first time, and
    // whether each local recipient wrote to the responder.
    const std::vector<std::string> ids = quoted_ids(verdict);
    store::ReadBatch batch;
    for (const auto& id : ids) {
      if (storable_id(id)) batch.ledger_ids.push_back(id);
    }
    batch.ledger_first_time = !ids.empty();
    const std::string responder = responder_of(envelope, message);
    std::vector<std::string> rcpts;
    if (storable_address(responder)) {
      for (const auto& rcpt : envelope.rcpts) {
        std::string local = text::ascii_lower(rcpt);
        if (!is_local(rcpt) || !storable_address(local)) continue;
        rcpts.push_back(rcpt);
        batch.correspondents.emplace_back(std::move(local), responder);
      }
    }
    if (!batch.ledger_ids.empty() || batch.ledger_first_time || !batch.correspondents.empty()) {
      auto found = read_all(*store_, batch);
      if (!found) return fail(Code::kUnavailable, "ledger lookup failed: " + found.error().message());
      check_ledger(ids, batch.ledger_ids, *found, &out);
      for (std::size_t i = 0; i < rcpts.size(); ++i) {
        if (found->correspondents[i]) {
          out.evidence.push_back({"correspondent", Verdict::kOurs, rcpts[i] + " has written to " + responder});
          break;
        }
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
