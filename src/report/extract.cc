#include "report/extract.h"

#include <set>

#include "common/text.h"
#include "mail/address.h"
#include "mail/header.h"
#include "report/date.h"

namespace backstop::report {
namespace {

constexpr std::size_t kMaxRecipients = 20;

std::string first_addr_spec(std::string_view value) {
  auto list = mail::parse_address_list(value);
  if (list && !list->empty()) return (*list)[0].addr_spec();
  return std::string(mail::trim(value));
}

void add_addresses(std::string_view value, std::vector<std::string>& out,
                   std::set<std::string>& seen) {
  auto list = mail::parse_address_list(value);
  if (!list) return;
  for (const mail::Address& a : *list) {
    if (out.size() >= kMaxRecipients) return;
    if (a.domain.empty()) continue;
    std::string spec = mail::ascii_lower(a.addr_spec());
    if (seen.insert(spec).second) out.push_back(std::move(spec));
  }
}

}  // namespace

std::vector<std::string> local_recipients(const mail::HeaderList& headers) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const char* name : {"Delivered-To", "X-Original-To"}) {
    for (std::string_view v : headers.all(name)) add_addresses(v, out, seen);
  }
  if (!out.empty()) return out;
  for (const char* name : {"To", "Cc"}) {
    for (std::string_view v : headers.all(name)) add_addresses(v, out, seen);
  }
  return out;
}

MessageRecord make_record(const mail::RawMessage& raw, const mail::Message& message,
                          const classify::Verdict& verdict, const Trusted& trusted) {
  MessageRecord r;
  r.file = raw.location;
  r.index = raw.index;
  r.kind = std::string(classify::kind_name(verdict.kind));
  r.confidence = verdict.confidence;
  r.signals = verdict.signals;
  r.feedback_report = verdict.feedback_report;

  const classify::References& v = verdict.refs;
  r.refs.message_id = v.message_id;
  r.refs.in_reply_to = v.in_reply_to;
  r.refs.references = v.references;
  r.refs.subject = v.subject;
  r.refs.from = v.from;
  r.refs.to = v.to;
  r.refs.date = v.date;
  r.refs.original_sender = v.original_sender;
  r.refs.original_envelope_id = v.original_envelope_id;
  r.refs.reporting_mta = v.reporting_mta;
  for (const classify::DsnRecipient& d : v.recipients) {
    r.refs.recipients.push_back(RecipientRef{d.original_recipient, d.final_recipient, d.action,
                                             d.status, d.diagnostic});
  }
  r.refs.original_received_ips = v.original_received_ips;
  r.refs.original_received_hosts = v.original_received_hosts;

  const mail::HeaderList& h = message.headers;
  if (auto s = h.get("Subject")) r.subject = mail::decode_rfc2047(*s);
  if (auto f = h.get("From")) r.from = first_addr_spec(*f);
  if (auto d = h.get("Date")) {
    r.date = std::string(mail::trim(*d));
    r.day = date_day_string(*d);
  }
  Hop hop = first_external_hop(h.all("Received"), trusted);
  r.source_ip = std::move(hop.ip);
  r.source_host = std::move(hop.host);
  r.local_recipients = local_recipients(h);
  r.envelope_from = raw.envelope_from;
  r.size = raw.bytes.size();
  for (mail::Condition c : message.conditions) r.conditions.emplace_back(mail::condition_name(c));
  return r;
}

}  // namespace backstop::report
