// The self-contained HTML report of `backstop scan --html FILE`: one page with
// inline CSS and inline SVG charts (by kind, by day, top sources) drawn here;
// no external assets, no JavaScript. Every message-derived string is escaped.
// Thread-safety: stateless.
#pragma once

#include <string>

#include "report/aggregate.h"

namespace backstop::report {

struct HtmlOptions {
  std::string title = "backstop scan report";
  std::string scanned;       // what was scanned (paths), shown in the header
  std::string generated_at;  // a timestamp shown in the header
  std::size_t top_n = 15;
  std::size_t max_days = 120;  // more days than this are drawn per month
};

std::string html_report(const Summary& s, const HtmlOptions& options = {});

}  // namespace backstop::report
