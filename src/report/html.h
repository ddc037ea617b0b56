// The self-contained HTML report of `backstop scan --html FILE`: one page with
// inline CSS and inline SVG charts (by kind; backscatter by period with its
// share of all mail on a second axis; all mail by period) and tables (top
// sources with bars, recipients, forged senders, errors) drawn here;
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
  std::string today;  // "YYYY-MM-DD" of the scan: later dates are not drawn (make_timeline)
};

std::string html_report(const Summary& s, const HtmlOptions& options = {});

}  // namespace backstop::report
