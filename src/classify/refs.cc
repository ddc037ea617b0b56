#include "classify/refs.h"

#include <algorithm>
#include <cctype>

#include "common/text.h"
#include "mail/address.h"
#include "mail/header.h"
#include "mail/received.h"

namespace backstop::classify {
namespace {

// Text scanned for inline quoted headers: quoted originals sit near the top.
constexpr std::size_t kMaxQuotedScan = 64 * 1024;
// A quoted header value longer than this is not a header line.
constexpr std::size_t kMaxQuotedValue = 998;
// Text scanned for recipients a plain-text NDR lists (they come first).
constexpr std::size_t kMaxRecipientScan = 8 * 1024;
// Recipients taken from a plain-text NDR.
constexpr std::size_t kMaxTextRecipients = 16;

std::string first_addr_spec(std::string_view value) {
  auto list = mail::parse_address_list(value);
  if (!list || list->empty()) return {};
  return (*list)[0].addr_spec();
}

std::vector<std::string> all_addr_specs(std::string_view value) {
  std::vector<std::string> out;
  auto list = mail::parse_address_list(value);
  if (!list) return out;
  for (const auto& a : *list) {
    if (!a.local.empty()) out.push_back(a.addr_spec());
  }
  return out;
}

std::string strip_angle(std::string_view v) {
  v = mail::trim(v);
  if (v.size() >= 2 && v.front() == '<') {
    const auto close = v.find('>');
    if (close != std::string_view::npos) v = v.substr(1, close - 1);
  }
  return std::string(mail::trim(v));
}

// Fills the original's header references from one header list.
void from_original_headers(const mail::HeaderList& h, References& r) {
  if (auto v = h.get("Message-ID"); v && r.message_id.empty()) {
    auto ids = parse_msg_ids(*v);
    if (!ids.empty()) r.message_id = ids.front();
  }
  if (auto v = h.get("Subject"); v && r.subject.empty()) r.subject = mail::decode_rfc2047(*v);
  if (auto v = h.get("From"); v && r.from.empty()) r.from = first_addr_spec(*v);
  if (auto v = h.get("To"); v && r.to.empty()) r.to = all_addr_specs(*v);
  if (auto v = h.get("Date"); v && r.date.empty()) r.date = std::string(mail::trim(*v));
  for (std::string_view name : {"Return-Path", "X-Envelope-From", "Envelope-From"}) {
    if (!r.original_sender.empty()) break;
    if (auto v = h.get(name); v) r.original_sender = strip_angle(*v);
  }
  if (!r.original_received_ips.empty() || !r.original_received_hosts.empty()) return;
  // One original's chain, never a mix of sources: a chain that names no IP
  // and no host (only "from" clauses) stands until a later source gives one
  // that does, which replaces it. Hops, not hosts, are counted: a hop may
  // state an IP and no "by" (quoted inline, a folded Received keeps its "by"
  // on a line of its own).
  std::vector<mail::Received> hops;
  std::vector<std::string> ips;
  std::vector<std::string> hosts;
  for (std::string_view value : h.all("Received")) {
    if (hops.size() >= kMaxHops) break;
    auto rcv = mail::parse_received(value);
    if (!rcv) continue;
    if (!rcv->from_ip.empty()) ips.push_back(rcv->from_ip);
    if (!rcv->by.empty()) hosts.push_back(rcv->by);
    hops.push_back(std::move(*rcv));
  }
  if (hops.empty() || (ips.empty() && hosts.empty() && !r.original_hops.empty())) return;
  r.original_received_ips = std::move(ips);
  r.original_received_hosts = std::move(hosts);
  r.original_hops = std::move(hops);
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && mail::iequals(s.substr(0, prefix.size()), prefix);
}

// Reads "Name: value" lines quoted in the body ("> " forms too) into a header list.
mail::HeaderList quoted_headers(std::string_view text) {
  static constexpr std::string_view kNames[] = {"Message-ID", "Subject", "From", "To", "Date",
                                                "Return-Path", "X-Envelope-From", "Received"};
  mail::HeaderList out;
  text = text.substr(0, kMaxQuotedScan);
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    while (!line.empty() && (line.front() == '>' || line.front() == ' ' || line.front() == '\t')) {
      line.remove_prefix(1);
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Most lines start with none of the names' first letters: skip them cheaply.
    if (line.empty() || std::string_view("MmSsFfTtDdRrXx").find(line.front()) == std::string_view::npos) continue;
    for (std::string_view name : kNames) {
      if (!starts_with_ci(line, name) || line.size() <= name.size()) continue;
      std::string_view rest = line.substr(name.size());
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      if (rest.empty() || rest.front() != ':') continue;
      rest = mail::trim(rest.substr(1));
      if (rest.empty() || rest.size() > kMaxQuotedValue) continue;
      out.mutable_fields().push_back(mail::HeaderField{std::string(name), std::string(rest)});
      break;
    }
  }
  return out;
}

std::string strip_type(std::string_view v) {
  // "rfc822; a@b", "dns; host": drop the type word before ';'.
  const auto semi = v.find(';');
  if (semi != std::string_view::npos) v = v.substr(semi + 1);
  return strip_angle(v);
}

void from_dsn(const mail::Message& m, References& r) {
  for (const auto& ds : m.delivery_status) {
    if (r.original_envelope_id.empty()) {
      r.original_envelope_id = std::string(mail::trim(ds.per_message.get("original-envelope-id")));
    }
    if (r.reporting_mta.empty()) r.reporting_mta = strip_type(ds.per_message.get("reporting-mta"));
    if (r.arrival_date.empty()) r.arrival_date = std::string(mail::trim(ds.per_message.get("arrival-date")));
    if (r.original_sender.empty()) {
      r.original_sender = strip_type(ds.per_message.get("x-postfix-sender"));
    }
    for (const auto& pr : ds.per_recipient) {
      DsnRecipient d;
      d.original_recipient = dsn_address(pr.get("original-recipient"));
      d.final_recipient = dsn_address(pr.get("final-recipient"));
      d.action = mail::ascii_lower(mail::trim(pr.get("action")));
      d.status = std::string(mail::trim(pr.get("status")));
      d.diagnostic = strip_type(pr.get("diagnostic-code"));
      r.recipients.push_back(std::move(d));
    }
  }
}

// An addr-spec alone on a line: "<a@b>:" (qmail), "  a@b" (Exim), "a@b:".
std::string lone_address(std::string_view line) {
  line = mail::trim(line);
  if (!line.empty() && line.back() == ':') line.remove_suffix(1);
  line = text::strip_brackets(line);
  const auto at = line.find('@');
  if (line.empty() || at == 0 || at == std::string_view::npos || at + 1 == line.size() ||
      line.find_first_of(" \t<>()[],;\"") != std::string_view::npos ||
      line.find('@', at + 1) != std::string_view::npos || line.find('.', at) == std::string_view::npos) {
    return {};
  }
  return std::string(line);
}

// Recipients listed by a plain-text NDR, up to the start of the returned original.
void from_text_ndr(std::string_view text, References& r) {
  text = text.substr(0, kMaxRecipientScan);
  while (!text.empty() && r.recipients.size() < kMaxTextRecipients) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    const std::string_view t = mail::trim(line);
    if (t.starts_with("---") || starts_with_ci(t, "Return-Path:") || starts_with_ci(t, "Received:")) break;
    std::string a = lone_address(line);
    if (a.empty()) continue;
    DsnRecipient d;
    d.final_recipient = std::move(a);
    r.recipients.push_back(std::move(d));
  }
}

}  // namespace

std::vector<std::string> parse_msg_ids(std::string_view value) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (out.size() < kMaxIds) {
    const auto open = value.find('<', pos);
    if (open == std::string_view::npos) break;
    const auto close = value.find('>', open + 1);
    if (close == std::string_view::npos) break;
    std::string_view id = mail::trim(value.substr(open + 1, close - open - 1));
    if (!id.empty()) out.emplace_back(id);
    pos = close + 1;
  }
  if (out.empty() && value.find('<') == std::string_view::npos) {
    std::string_view v = mail::trim(value);
    if (!v.empty() && v.find('@') != std::string_view::npos &&
        v.find_first_of(" \t") == std::string_view::npos) {
      out.emplace_back(v);
    }
  }
  return out;
}

std::string dsn_address(std::string_view value) {
  return strip_type(value);
}

References extract_references(const mail::Message& m) {
  References r;
  if (auto v = m.headers.get("In-Reply-To")) r.in_reply_to = parse_msg_ids(*v);
  if (auto v = m.headers.get("References")) r.references = parse_msg_ids(*v);
  if (auto v = m.headers.get("Date")) r.response_date = std::string(mail::trim(*v));
  from_dsn(m, r);
  for (const auto& e : m.embedded) from_original_headers(e.headers, r);
  if (r.message_id.empty() || r.original_received_hosts.empty()) {
    // Inline quoted originals (qmail, Exim, many NDRs): the body, or an
    // attached text part, states the original's headers as plain lines.
    from_original_headers(quoted_headers(m.text), r);
    from_original_headers(quoted_headers(m.embedded_text), r);
  }
  if (r.recipients.empty()) {
    for (std::string_view v : m.headers.all("X-Failed-Recipients")) {
      for (auto& a : all_addr_specs(v)) {
        DsnRecipient d;
        d.final_recipient = std::move(a);
        d.action = "failed";
        r.recipients.push_back(std::move(d));
      }
    }
  }
  if (r.recipients.empty()) from_text_ndr(m.text, r);
  return r;
}

}  // namespace backstop::classify
