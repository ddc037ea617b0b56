#include "report/html.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "report/text.h"

namespace backstop::report {
namespace {

constexpr const char* kKinds[] = {"bounce", "virus_notice", "challenge", "subscription_confirm",
                                  "autoreply", "none"};
constexpr const char* kColors[] = {"#c0392b", "#8e44ad", "#d35400", "#2980b9", "#16a085",
                                   "#95a5a6"};

const char* color_of(const std::string& kind) {
  for (std::size_t i = 0; i < std::size(kKinds); ++i) {
    if (kind == kKinds[i]) return kColors[i];
  }
  return "#7f8c8d";
}

std::string num(std::uint64_t n) { return std::to_string(n); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Horizontal bar chart: one row per (label, value), labels escaped here.
std::string hbar_chart(const std::vector<std::pair<std::string, std::uint64_t>>& rows,
                       const std::vector<std::string>& colors, const char* aria) {
  const int row_h = 22, label_w = 260, bar_w = 420, width = label_w + bar_w + 90;
  int height = static_cast<int>(rows.size()) * row_h + 10;
  std::uint64_t max = 1;
  for (const auto& r : rows) max = std::max(max, r.second);
  std::string out = "<svg class=\"chart\" role=\"img\" aria-label=\"" + html_escape(aria) +
                    "\" width=\"" + num(width) + "\" height=\"" + num(height) +
                    "\" viewBox=\"0 0 " + num(width) + " " + num(height) +
                    "\" xmlns=\"http://www.w3.org/2000/svg\">";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    int y = static_cast<int>(i) * row_h + 5;
    double w = static_cast<double>(bar_w) * static_cast<double>(rows[i].second) /
               static_cast<double>(max);
    std::string label = rows[i].first.size() > 60 ? rows[i].first.substr(0, 60) + "..." : rows[i].first;
    out += "<text x=\"" + num(label_w - 6) + "\" y=\"" + num(y + 15) +
           "\" text-anchor=\"end\">" + html_escape(label) + "</text>";
    out += "<rect x=\"" + num(label_w) + "\" y=\"" + num(y + 2) + "\" width=\"" +
           fmt("%.1f", w) + "\" height=\"" + num(row_h - 6) + "\" fill=\"" +
           (i < colors.size() ? colors[i] : std::string("#c0392b")) + "\"/>";
    out += "<text x=\"" + fmt("%.1f", label_w + w + 6) + "\" y=\"" + num(y + 15) + "\">" +
           num(rows[i].second) + "</text>";
  }
  out += "</svg>";
  return out;
}

// Stacked columns per day (or per month when there are too many days).
std::string day_chart(const Summary& s, std::size_t max_days) {
  std::map<std::string, std::map<std::string, std::uint64_t>> buckets;
  bool monthly = s.by_day.size() > max_days;
  for (const auto& [day, kinds] : s.by_day) {
    std::string key = monthly ? day.substr(0, 7) : day;
    for (const auto& [k, n] : kinds) buckets[key][k] += n;
  }
  if (buckets.empty()) return "<p class=\"muted\">No message had a parsable Date.</p>";
  std::uint64_t max = 1;
  for (const auto& [key, kinds] : buckets) {
    std::uint64_t t = 0;
    for (const auto& [k, n] : kinds) t += n;
    max = std::max(max, t);
  }
  const int plot_h = 200, top = 10, left = 50, bottom = 70;
  int col_w = std::max(4, std::min(28, 900 / static_cast<int>(buckets.size())));
  int width = left + col_w * static_cast<int>(buckets.size()) + 20;
  int height = top + plot_h + bottom;
  std::string out = "<svg class=\"chart\" role=\"img\" aria-label=\"messages by " +
                    std::string(monthly ? "month" : "day") + "\" width=\"" + num(width) +
                    "\" height=\"" + num(height) + "\" viewBox=\"0 0 " + num(width) + " " +
                    num(height) + "\" xmlns=\"http://www.w3.org/2000/svg\">";
  out += "<line x1=\"" + num(left) + "\" y1=\"" + num(top + plot_h) + "\" x2=\"" + num(width - 10) +
         "\" y2=\"" + num(top + plot_h) + "\" stroke=\"#555\"/>";
  out += "<text x=\"" + num(left - 4) + "\" y=\"" + num(top + 10) + "\" text-anchor=\"end\">" +
         num(max) + "</text>";
  out += "<text x=\"" + num(left - 4) + "\" y=\"" + num(top + plot_h) + "\" text-anchor=\"end\">0</text>";
  std::size_t i = 0;
  std::size_t label_every = std::max<std::size_t>(1, buckets.size() / 20);
  for (const auto& [key, kinds] : buckets) {
    int x = left + static_cast<int>(i) * col_w;
    double y = top + plot_h;
    std::string tip = key;
    for (const char* k : kKinds) {
      auto it = kinds.find(k);
      if (it == kinds.end() || it->second == 0) continue;
      double h = static_cast<double>(plot_h) * static_cast<double>(it->second) /
                 static_cast<double>(max);
      y -= h;
      out += "<rect x=\"" + num(x + 1) + "\" y=\"" + fmt("%.1f", y) + "\" width=\"" +
             num(std::max(1, col_w - 2)) + "\" height=\"" + fmt("%.1f", h) + "\" fill=\"" +
             color_of(k) + "\"><title>" + html_escape(key) + " " + k + ": " + num(it->second) +
             "</title></rect>";
    }
    if (i % label_every == 0) {
      int lx = x + col_w / 2, ly = top + plot_h + 8;
      out += "<text x=\"" + num(lx) + "\" y=\"" + num(ly) + "\" transform=\"rotate(60 " + num(lx) +
             " " + num(ly) + ")\" class=\"small\">" + html_escape(key) + "</text>";
    }
    ++i;
  }
  out += "</svg>";
  return out;
}

std::string table(const char* head, const std::vector<std::pair<std::string, std::uint64_t>>& rows) {
  if (rows.empty()) return "<p class=\"muted\">None.</p>";
  std::string out = "<table><tr><th>" + std::string(head) + "</th><th>messages</th></tr>";
  for (const auto& [k, n] : rows) {
    out += "<tr><td>" + html_escape(k) + "</td><td class=\"n\">" + num(n) + "</td></tr>";
  }
  out += "</table>";
  return out;
}

}  // namespace

std::string html_report(const Summary& s, const HtmlOptions& o) {
  std::string out;
  out.reserve(64 * 1024);
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  out += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'; img-src data:\">";
  out += "<title>" + html_escape(o.title) + "</title><style>"
         "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}"
         "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .8em;border-bottom:1px solid #eee;"
         "text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}"
         ".muted{color:#777}.chart text{font-size:12px;fill:#222}.chart text.small{font-size:10px}"
         ".legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:.9em;"
         "height:.9em;margin-right:.3em;vertical-align:middle}"
         ".totals td{border:none;padding:.1em .8em}code{word-break:break-all}"
         "</style></head><body>\n";
  out += "<h1>" + html_escape(o.title) + "</h1>";
  if (!o.scanned.empty() || !o.generated_at.empty()) {
    out += "<p class=\"muted\">";
    if (!o.scanned.empty()) out += "Scanned: <code>" + html_escape(o.scanned) + "</code>. ";
    if (!o.generated_at.empty()) out += "Generated " + html_escape(o.generated_at) + ".";
    out += "</p>";
  }
  out += "<table class=\"totals\">";
  out += "<tr><td>messages</td><td class=\"n\">" + num(s.messages) + "</td></tr>";
  out += "<tr><td>backscatter</td><td class=\"n\">" + num(s.backscatter) + " (" +
         fmt("%.1f", s.messages ? 100.0 * static_cast<double>(s.backscatter) /
                                      static_cast<double>(s.messages)
                                : 0.0) +
         "%)</td></tr>";
  out += "<tr><td>feedback reports</td><td class=\"n\">" + num(s.feedback_reports) + "</td></tr>";
  out += "<tr><td>bytes</td><td class=\"n\">" + fmt("%.1f MB", static_cast<double>(s.bytes) / 1e6) +
         "</td></tr>";
  out += "<tr><td>files</td><td class=\"n\">" + num(s.files) + "</td></tr>";
  out += "<tr><td>errors</td><td class=\"n\">" + num(s.errors) + "</td></tr></table>\n";

  out += "<h2>By kind</h2>";
  std::vector<std::pair<std::string, std::uint64_t>> kind_rows;
  std::vector<std::string> kind_colors;
  for (const char* k : kKinds) {
    auto it = s.by_kind.find(k);
    kind_rows.emplace_back(k, it == s.by_kind.end() ? 0 : it->second);
    kind_colors.emplace_back(color_of(k));
  }
  out += hbar_chart(kind_rows, kind_colors, "messages by kind");

  out += "\n<h2>By day (UTC, from the Date header)</h2><p class=\"legend\">";
  for (const char* k : kKinds) {
    out += "<span><i style=\"background:" + std::string(color_of(k)) + "\"></i>" + k + "</span>";
  }
  out += "</p>" + day_chart(s, o.max_days);
  if (s.undated) out += "<p class=\"muted\">" + num(s.undated) + " messages had no parsable Date.</p>";

  out += "\n<h2>Top sources of backscatter</h2><p class=\"muted\">The first Received hop outside "
         "private and trusted ranges.</p>";
  auto sources = s.sources.top(o.top_n);
  if (sources.empty()) {
    out += "<p class=\"muted\">None.</p>";
  } else {
    out += hbar_chart(sources, {}, "top sources of backscatter");
  }
  out += "\n<h2>Top local recipients hit</h2>" + table("recipient", s.recipients.top(o.top_n));
  out += "\n<h2>Top forged senders</h2><p class=\"muted\">The original sender (or From) of the "
         "message the backscatter answers.</p>" +
         table("sender", s.forged_senders.top(o.top_n));

  out += "\n<h2>Errors</h2>";
  if (s.errors_by_code.empty()) {
    out += "<p class=\"muted\">None.</p>";
  } else {
    std::vector<std::pair<std::string, std::uint64_t>> rows(s.errors_by_code.begin(),
                                                             s.errors_by_code.end());
    out += table("type", rows);
    out += "<table><tr><th>file</th><th>#</th><th>error</th></tr>";
    std::size_t shown = 0;
    for (const ErrorRecord& e : s.error_samples) {
      if (shown++ == 100) break;
      out += "<tr><td><code>" + html_escape(e.file) + "</code></td><td class=\"n\">" +
             num(e.index) + "</td><td>" + html_escape(e.code) + ": " + html_escape(e.message) +
             "</td></tr>";
    }
    out += "</table>";
  }
  out += "\n</body></html>\n";
  return out;
}

}  // namespace backstop::report
