#include "report/writers.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "common/text.h"
#include "report/text.h"

namespace backstop::report {
namespace {

void key(std::string& out, const char* k) {
  if (out.back() != '{') out += ',';
  out += '"';
  out += k;
  out += "\":";
}

void str_or_null(std::string& out, const char* k, const std::string& v) {
  key(out, k);
  if (v.empty()) {
    out += "null";
  } else {
    text::append_quoted(out, v, text::Quote::kScriptSafe);
  }
}

void str_list(std::string& out, const char* k, const std::vector<std::string>& v) {
  key(out, k);
  out += '[';
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    text::append_quoted(out, v[i], text::Quote::kScriptSafe);
  }
  out += ']';
}

std::vector<std::string> unique_nonempty(std::vector<std::string> in) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (auto& s : in) {
    if (!s.empty() && seen.insert(s).second) out.push_back(std::move(s));
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ';';
    out += v[i];
  }
  return out;
}

std::vector<std::string> original_recipients(const Refs& r) {
  std::vector<std::string> v;
  for (const auto& rc : r.recipients) {
    v.push_back(!rc.original_recipient.empty() ? rc.original_recipient : rc.final_recipient);
  }
  return unique_nonempty(std::move(v));
}

std::vector<std::string> status_codes(const Refs& r) {
  std::vector<std::string> v;
  for (const auto& rc : r.recipients) v.push_back(rc.status);
  return unique_nonempty(std::move(v));
}

std::string format_double(double d) {
  if (!(d >= 0.0)) d = 0.0;  // NaN and negatives are not valid output
  if (d > 1.0) d = 1.0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", d);
  return buf;
}

std::string percent(std::uint64_t n, std::uint64_t total) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%5.1f%%", total ? 100.0 * static_cast<double>(n) / static_cast<double>(total) : 0.0);
  return buf;
}

// Characters of the share bar of the summary's period table at the largest share.
constexpr double kShareBarWidth = 20.0;
// Bytes of message-derived text kept on an error line of the summary; the top
// tables print their keys whole (kNoCut): a source or address is read there.
constexpr std::size_t kErrorTextBytes = 200;
constexpr std::size_t kNoCut = std::string_view::npos;

// Message-derived text in the summary: valid UTF-8, one line, at most `max` bytes.
std::string clean_line(std::string_view s, std::size_t max = kErrorTextBytes) {
  std::string out = text::sanitize_utf8(s.substr(0, max));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  return out;
}

}  // namespace

std::string jsonl_line(const MessageRecord& r) {
  std::string out = "{";
  str_or_null(out, "file", r.file);
  key(out, "index");
  out += std::to_string(r.index);
  key(out, "kind");
  text::append_quoted(out, r.kind, text::Quote::kScriptSafe);
  key(out, "confidence");
  out += format_double(r.confidence);
  str_list(out, "signals", r.signals);
  key(out, "feedback_report");
  out += r.feedback_report ? "true" : "false";

  key(out, "refs");
  out += '{';
  const Refs& f = r.refs;
  str_or_null(out, "message_id", f.message_id);
  str_list(out, "in_reply_to", f.in_reply_to);
  str_list(out, "references", f.references);
  str_or_null(out, "subject", f.subject);
  str_or_null(out, "from", f.from);
  str_list(out, "to", f.to);
  str_or_null(out, "date", f.date);
  str_or_null(out, "original_sender", f.original_sender);
  str_or_null(out, "original_envelope_id", f.original_envelope_id);
  str_or_null(out, "reporting_mta", f.reporting_mta);
  str_list(out, "original_recipients", original_recipients(f));
  str_list(out, "status_codes", status_codes(f));
  key(out, "recipients");
  out += '[';
  for (std::size_t i = 0; i < f.recipients.size(); ++i) {
    const RecipientRef& rc = f.recipients[i];
    if (i) out += ',';
    out += '{';
    str_or_null(out, "original_recipient", rc.original_recipient);
    str_or_null(out, "final_recipient", rc.final_recipient);
    str_or_null(out, "action", rc.action);
    str_or_null(out, "status", rc.status);
    str_or_null(out, "diagnostic", rc.diagnostic);
    out += '}';
  }
  out += ']';
  str_list(out, "original_received_ips", f.original_received_ips);
  str_list(out, "original_received_hosts", f.original_received_hosts);
  out += '}';

  str_or_null(out, "subject", r.subject);
  str_or_null(out, "from", r.from);
  str_or_null(out, "date", r.date);
  str_or_null(out, "day", r.day);
  str_or_null(out, "source_ip", r.source_ip);
  str_or_null(out, "source_host", r.source_host);
  str_list(out, "local_recipients", r.local_recipients);
  str_or_null(out, "envelope_from", r.envelope_from);
  key(out, "size");
  out += std::to_string(r.size);
  str_list(out, "conditions", r.conditions);
  out += '}';
  return out;
}

std::string csv_header() {
  return "file,index,kind,confidence,signals,feedback_report,subject,from,date,day,source_ip,"
         "source_host,local_recipients,original_message_id,original_sender,original_from,"
         "original_recipients,status_codes,size\r\n";
}

std::string csv_row(const MessageRecord& r) {
  std::vector<std::string> cols = {
      r.file,
      std::to_string(r.index),
      r.kind,
      format_double(r.confidence),
      join(r.signals),
      r.feedback_report ? "1" : "0",
      r.subject,
      r.from,
      r.date,
      r.day,
      r.source_ip,
      r.source_host,
      join(r.local_recipients),
      r.refs.message_id,
      r.refs.original_sender,
      r.refs.from,
      join(original_recipients(r.refs)),
      join(status_codes(r.refs)),
      std::to_string(r.size),
  };
  std::string out;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    if (i) out += ',';
    out += csv_field(cols[i]);
  }
  out += "\r\n";
  return out;
}

std::string text_summary(const Summary& s, std::size_t top_n, std::string_view today) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "backstop scan: %llu messages (%.1f MB) in %llu files, %llu backscatter (%s), "
                "%llu errors\n",
                static_cast<unsigned long long>(s.messages),
                static_cast<double>(s.bytes) / 1e6, static_cast<unsigned long long>(s.files),
                static_cast<unsigned long long>(s.backscatter),
                percent(s.backscatter, s.messages).c_str(),
                static_cast<unsigned long long>(s.errors));
  out += buf;

  out += "\nBy kind\n";
  for (const char* k : {"bounce", "virus_notice", "challenge", "subscription_confirm", "autoreply",
                        "none"}) {
    auto it = s.by_kind.find(k);
    std::uint64_t n = it == s.by_kind.end() ? 0 : it->second;
    std::snprintf(buf, sizeof buf, "  %-22s %10llu  %s\n", k, static_cast<unsigned long long>(n),
                  percent(n, s.messages).c_str());
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "  %-22s %10llu  (kind none; RFC 5965 reports)\n",
                "feedback reports", static_cast<unsigned long long>(s.feedback_reports));
  out += buf;

  const Timeline tl = make_timeline(s, today);
  const char* g = granularity_name(tl.granularity);
  out += std::string("\nBy ") + g + " (UTC, from Date" +
         (tl.granularity == Granularity::kWeek ? "; weeks start on Monday" : "") + ")\n";
  // The share of backscatter has a bar on its own scale (the largest share
  // fills it), so a month of 1% backscatter among much ham still shows.
  double max_share = 0.0;
  for (const PeriodBucket& b : tl.buckets) {
    if (b.all > 0) max_share = std::max(max_share, static_cast<double>(b.backscatter) / static_cast<double>(b.all));
  }
  std::snprintf(buf, sizeof buf, "  %-12s %10s %12s  %6s\n", g, "all", "backscatter", "share");
  out += buf;
  for (const PeriodBucket& b : tl.buckets) {
    if (b.all == 0) continue;  // the chart keeps empty periods; the table lists those with mail
    std::snprintf(buf, sizeof buf, "  %-12s %10llu %12llu  %s", b.label.c_str(),
                  static_cast<unsigned long long>(b.all), static_cast<unsigned long long>(b.backscatter),
                  percent(b.backscatter, b.all).c_str());
    out += buf;
    if (b.backscatter > 0 && max_share > 0) {
      const double share = static_cast<double>(b.backscatter) / static_cast<double>(b.all);
      const auto bar = static_cast<std::size_t>(std::max(1.0, std::round(kShareBarWidth * share / max_share)));
      out += "  " + std::string(bar, '#');
    }
    out += "\n";
  }
  if (tl.earlier) {
    std::snprintf(buf, sizeof buf, "  %-12s %10llu %12llu  (dated before %s)\n", "(earlier)",
                  static_cast<unsigned long long>(tl.earlier),
                  static_cast<unsigned long long>(tl.earlier_backscatter),
                  tl.buckets.empty() ? "" : tl.buckets.front().label.c_str());
    out += buf;
  }
  if (tl.later) {
    std::snprintf(buf, sizeof buf, "  %-12s %10llu %12llu  (dated after the scan)\n", "(future)",
                  static_cast<unsigned long long>(tl.later),
                  static_cast<unsigned long long>(tl.later_backscatter));
    out += buf;
  }
  if (s.undated) {
    std::snprintf(buf, sizeof buf, "  %-12s %10llu  (no parsable Date)\n", "(undated)",
                  static_cast<unsigned long long>(s.undated));
    out += buf;
  }

  auto table = [&](const char* title, const TopCounter& c) {
    out += "\n";
    out += title;
    out += "\n";
    auto rows = c.top(top_n);
    if (rows.empty()) out += "  (none)\n";
    for (const auto& [k, n] : rows) {
      std::snprintf(buf, sizeof buf, "  %10llu  ", static_cast<unsigned long long>(n));
      out += buf;
      out += clean_line(k, kNoCut);
      out += "\n";
    }
  };
  table("Top sending IPs/hosts of backscatter (first Received hop outside private ranges)",
        s.sources);
  table("Top local recipients hit by backscatter", s.recipients);
  table("Top forged senders (original sender or From of the bounced message)", s.forged_senders);

  out += "\nErrors by type\n";
  if (s.errors_by_code.empty()) out += "  (none)\n";
  for (const auto& [code, n] : s.errors_by_code) {
    std::snprintf(buf, sizeof buf, "  %-22s %10llu\n", code.c_str(), static_cast<unsigned long long>(n));
    out += buf;
  }
  std::size_t shown = 0;
  for (const ErrorRecord& e : s.error_samples) {
    if (shown++ == top_n * 2) {
      out += "  ...\n";
      break;
    }
    out += "  " + clean_line(e.file) + " #" + std::to_string(e.index) + ": " + clean_line(e.code) +
           ": " + clean_line(e.message) + "\n";
  }
  return out;
}

}  // namespace backstop::report
