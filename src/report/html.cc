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
std::string messages(std::uint64_t n) { return num(n) + (n == 1 ? " message" : " messages"); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Horizontal bar chart of short labels (the kinds): one row per (label,
// value), labels escaped here.
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
    out += "<text x=\"" + num(label_w - 6) + "\" y=\"" + num(y + 15) +
           "\" text-anchor=\"end\">" + html_escape(rows[i].first) + "</text>";
    out += "<rect x=\"" + num(label_w) + "\" y=\"" + num(y + 2) + "\" width=\"" +
           fmt("%.1f", w) + "\" height=\"" + num(row_h - 6) + "\" fill=\"" +
           (i < colors.size() ? colors[i] : std::string("#c0392b")) + "\"/>";
    out += "<text x=\"" + fmt("%.1f", label_w + w + 6) + "\" y=\"" + num(y + 15) + "\">" +
           num(rows[i].second) + "</text>";
  }
  out += "</svg>";
  return out;
}

// A value axis scale: the smallest "nice" number (1, 2 or 5 times a power of
// ten) at or above `v`.
double nice_ceiling(double v) {
  if (v <= 0) return 1;
  double p = 1;
  while (p * 10 <= v) p *= 10;
  while (p > v) p /= 10;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (p * m >= v) return p * m;
  }
  return p * 10;
}

// Columns per period of the timeline. With `backscatter_only`, the columns
// stack the backscatter kinds on their own scale (left axis) and a line gives
// the backscatter share of all mail on a second scale (right axis), so that
// neither is flattened by the ham; else the columns stack every kind (ham
// included), for the volume of mail.
std::string period_chart(const Timeline& tl, bool backscatter_only) {
  const std::size_t n = tl.buckets.size();
  std::uint64_t max = 1;
  double max_share = 0;
  for (const PeriodBucket& b : tl.buckets) {
    max = std::max(max, backscatter_only ? b.backscatter : b.all);
    if (b.all > 0) max_share = std::max(max_share, static_cast<double>(b.backscatter) / static_cast<double>(b.all));
  }
  const double scale = nice_ceiling(static_cast<double>(max));
  const double share_scale = nice_ceiling(max_share * 100.0);
  const int plot_h = backscatter_only ? 200 : 120, top = 12, left = 56, right = backscatter_only ? 56 : 20,
            bottom = 78;
  const int col_w = std::max(2, std::min(28, 960 / static_cast<int>(std::max<std::size_t>(n, 1))));
  const int width = left + col_w * static_cast<int>(n) + right;
  const int height = top + plot_h + bottom;
  const std::string g = granularity_name(tl.granularity);
  std::string out = "<svg class=\"chart\" role=\"img\" aria-label=\"" +
                    std::string(backscatter_only ? "backscatter" : "all messages") + " by " + g +
                    "\" width=\"" + num(width) + "\" height=\"" + num(height) + "\" viewBox=\"0 0 " +
                    num(width) + " " + num(height) + "\" xmlns=\"http://www.w3.org/2000/svg\">";
  const int base = top + plot_h;
  out += "<line x1=\"" + num(left) + "\" y1=\"" + num(base) + "\" x2=\"" + num(width - right) + "\" y2=\"" +
         num(base) + "\" stroke=\"#555\"/>";
  out += "<text x=\"" + num(left - 4) + "\" y=\"" + num(top + 4) + "\" text-anchor=\"end\">" +
         fmt("%.0f", scale) + "</text>";
  out += "<text x=\"" + num(left - 4) + "\" y=\"" + num(base) + "\" text-anchor=\"end\">0</text>";
  if (backscatter_only) {
    out += "<text x=\"" + num(width - right + 4) + "\" y=\"" + num(top + 4) + "\" class=\"share\">" +
           fmt("%g%%", share_scale) + "</text>";
    out += "<text x=\"" + num(width - right + 4) + "\" y=\"" + num(base) + "\" class=\"share\">0%</text>";
  }
  const std::size_t label_every = std::max<std::size_t>(1, (n + 29) / 30);
  std::string share_points;
  for (std::size_t i = 0; i < n; ++i) {
    const PeriodBucket& b = tl.buckets[i];
    const int x = left + static_cast<int>(i) * col_w;
    double y = base;
    for (const char* k : kKinds) {
      if (backscatter_only && std::string_view(k) == "none") continue;
      auto it = b.by_kind.find(k);
      if (it == b.by_kind.end() || it->second == 0) continue;
      const double h = plot_h * static_cast<double>(it->second) / scale;
      y -= h;
      out += "<rect x=\"" + num(x + 1) + "\" y=\"" + fmt("%.1f", y) + "\" width=\"" + num(std::max(1, col_w - 2)) +
             "\" height=\"" + fmt("%.1f", h) + "\" fill=\"" + color_of(k) + "\"><title>" + html_escape(b.label) +
             " " + k + ": " + num(it->second) + "</title></rect>";
    }
    if (backscatter_only && b.all > 0) {
      const double share = 100.0 * static_cast<double>(b.backscatter) / static_cast<double>(b.all);
      const double sy = base - plot_h * share / share_scale;
      share_points += fmt("%.1f", x + col_w / 2.0) + "," + fmt("%.1f", sy) + " ";
      out += "<circle cx=\"" + fmt("%.1f", x + col_w / 2.0) + "\" cy=\"" + fmt("%.1f", sy) +
             "\" r=\"2.5\" class=\"share\"><title>" + html_escape(b.label) + " backscatter " + num(b.backscatter) +
             " of " + num(b.all) + " (" + fmt("%.1f", share) + "%)</title></circle>";
    }
    if (i % label_every == 0) {
      const int lx = x + col_w / 2, ly = base + 8;
      out += "<text x=\"" + num(lx) + "\" y=\"" + num(ly) + "\" transform=\"rotate(60 " + num(lx) + " " + num(ly) +
             ")\" class=\"small\">" + html_escape(b.label) + "</text>";
    }
  }
  if (!share_points.empty()) {
    share_points.pop_back();
    out += "<polyline points=\"" + share_points + "\" class=\"share\" fill=\"none\"/>";
  }
  out += "</svg>";
  return out;
}

// Top sources as a table whose labels wrap (a host name or address is never
// cut) with a bar in the next cell, scaled to the largest count.
std::string bar_table(const char* head, const std::vector<std::pair<std::string, std::uint64_t>>& rows) {
  if (rows.empty()) return "<p class=\"muted\">None.</p>";
  std::uint64_t max = 1;
  for (const auto& r : rows) max = std::max(max, r.second);
  std::string out = "<table class=\"bars\"><tr><th>" + std::string(head) + "</th><th>messages</th><th></th></tr>";
  for (const auto& [k, n] : rows) {
    out += "<tr><td class=\"label\">" + html_escape(k) + "</td><td class=\"n\">" + num(n) +
           "</td><td class=\"bar\"><span style=\"width:" +
           fmt("%.1f", 100.0 * static_cast<double>(n) / static_cast<double>(max)) + "%\"></span></td></tr>";
  }
  out += "</table>";
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
         ".chart .share{stroke:#222;fill:#222}.chart polyline.share{fill:none;stroke-width:1.5}"
         ".chart text.share{stroke:none}"
         "table.bars{width:100%}table.bars td.label{overflow-wrap:anywhere;word-break:break-word;max-width:40em}"
         "table.bars td.bar{width:40%}table.bars td.bar span{display:block;height:.9em;background:#c0392b}"
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

  const Timeline tl = make_timeline(s, o.today);
  const std::string g = granularity_name(tl.granularity);
  out += "\n<h2>Backscatter by " + g + " (UTC, from the Date header)</h2>";
  if (tl.buckets.empty()) {
    out += "<p class=\"muted\">No message had a parsable Date.</p>";
  } else {
    out += "<p class=\"legend\">";
    for (const char* k : kKinds) {
      if (std::string_view(k) == "none") continue;
      out += "<span><i style=\"background:" + std::string(color_of(k)) + "\"></i>" + k + "</span>";
    }
    out += "<span><i style=\"background:#222;height:.2em\"></i>share of all mail (right axis)</span></p>";
    if (tl.granularity == Granularity::kWeek) out += "<p class=\"muted\">Weeks start on Monday.</p>";
    out += period_chart(tl, true);
    out += "\n<h2>All messages by " + g + "</h2><p class=\"legend\">";
    for (const char* k : kKinds) {
      out += "<span><i style=\"background:" + std::string(color_of(k)) + "\"></i>" + k + "</span>";
    }
    out += "</p>" + period_chart(tl, false);
  }
  if (tl.earlier) {
    out += "<p class=\"muted\">" + messages(tl.earlier) + " (" + num(tl.earlier_backscatter) +
           " backscatter) dated before " + html_escape(tl.buckets.front().label) + " are not drawn.</p>";
  }
  if (tl.later) {
    out += "<p class=\"muted\">" + messages(tl.later) + " (" + num(tl.later_backscatter) +
           " backscatter) dated after the scan are not drawn.</p>";
  }
  if (s.undated) out += "<p class=\"muted\">" + messages(s.undated) + " had no parsable Date.</p>";

  out += "\n<h2>Top sources of backscatter</h2><p class=\"muted\">The first Received hop outside "
         "private and trusted ranges.</p>";
  out += bar_table("source", s.sources.top(o.top_n));
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
