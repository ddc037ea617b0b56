// backstop scan PATH... : classify every message of mbox, Maildir, MH and
// single-message files/directories; print a summary, JSON Lines or CSV, and
// optionally an HTML report. The pipeline is report::run_scan (scanner.h).
#include <sys/stat.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "classify/classifier.h"
#include "report/aggregate.h"
#include "report/console.h"
#include "report/html.h"
#include "report/scanner.h"
#include "report/writers.h"

namespace backstop::app {
namespace {

struct ScanArgs {
  std::vector<std::string> paths;
  std::string format = "summary";
  std::string html;
  std::string errors;
  std::string rules;
  std::vector<std::string> trusted;
  unsigned jobs = 0;
  std::size_t top = 10;
  bool no_progress = false;
};

// The input size when every path is a regular file (one mbox, or message
// files listed on the command line), else 0: directories are walked as the
// scan goes, so their size is not known in advance.
std::uint64_t total_input_bytes(const std::vector<std::string>& paths) {
  std::uint64_t total = 0;
  for (const std::string& p : paths) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    total += static_cast<std::uint64_t>(st.st_size);
  }
  return total;
}

// The reader thread allocates every message and a worker frees it: glibc then
// hands the freed pages back to the kernel (heap trimming, and an mmap per
// message over its mmap threshold) and the reader takes fresh, zeroed pages
// for the next one. Page faults were ~10-25% of a scan's CPU on mailboxes of
// 100 KB - 1 MB messages (docs/benchmarks.md). Keep the memory instead: the
// scan holds at most 64 MiB of messages in flight (scanner.h), so what stays
// mapped is bounded by that peak.
constexpr int kScanMmapThreshold = 32 << 20;   // glibc's largest; only messages > 32 MiB are mmapped
constexpr int kScanTrimThreshold = 256 << 20;  // above the pipeline's peak, so the heap is not trimmed

void tune_allocator() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, kScanMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kScanTrimThreshold);
#endif
}

std::string utc_now(const char* format = "%Y-%m-%d %H:%M:%S UTC") {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

int run(const ScanArgs& a) {
  tune_allocator();
  report::ScanOptions o;
  o.paths = a.paths;
  o.jobs = a.jobs;
  auto rules = a.rules.empty() ? classify::builtin_rules() : classify::load_rules_file(a.rules);
  if (!rules) {
    std::fprintf(stderr, "backstop scan: rules: %s\n", rules.error().to_string().c_str());
    return 2;
  }
  o.rules = *rules;
  for (const std::string& t : a.trusted) {
    if (auto st = o.trusted.add(t); !st) {
      std::fprintf(stderr, "backstop scan: --trusted: %s\n", st.error().message().c_str());
      return 2;
    }
  }
  // Open the output files first: a bad path is a usage error, found before the work.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> html(nullptr, &std::fclose);
  if (!a.html.empty()) {
    html.reset(std::fopen(a.html.c_str(), "wb"));
    if (!html) {
      std::fprintf(stderr, "backstop scan: --html %s: %s\n", a.html.c_str(), std::strerror(errno));
      return 2;
    }
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> errors(nullptr, &std::fclose);
  if (!a.errors.empty()) {
    errors.reset(std::fopen(a.errors.c_str(), "wb"));
    if (!errors) {
      std::fprintf(stderr, "backstop scan: --errors %s: %s\n", a.errors.c_str(), std::strerror(errno));
      return 2;
    }
  }

  report::Aggregator agg;
  const bool jsonl = a.format == "jsonl", csv = a.format == "csv";
  if (csv) std::fputs(report::csv_header().c_str(), stdout);
  const bool progress = !a.no_progress && isatty(STDERR_FILENO) == 1;
  bool progress_shown = false;

  report::ScanSink sink;
  sink.on_message = [&](const report::MessageRecord& r) {
    agg.add(r);
    if (jsonl) {
      std::string line = report::jsonl_line(r);
      line += '\n';
      std::fwrite(line.data(), 1, line.size(), stdout);
    } else if (csv) {
      std::string row = report::csv_row(r);
      std::fwrite(row.data(), 1, row.size(), stdout);
    }
  };
  report::ErrorTally tally;
  bool errors_failed = false;
  sink.on_error = [&](const report::ErrorRecord& e) {
    agg.add_error(e);
    const std::string line = report::error_line(e) + '\n';
    if (errors && std::fputs(line.c_str(), errors.get()) == EOF) errors_failed = true;
    if (!tally.show(e)) return;
    if (progress_shown) std::fputs("\r\033[K", stderr);
    std::fputs(("backstop scan: " + line).c_str(), stderr);
  };
  if (progress) {
    const std::uint64_t total = total_input_bytes(a.paths);
    sink.on_progress = [&, total](const report::ScanProgress& p) {
      const std::string line = report::progress_line(p.messages, p.bytes, p.seconds, total);
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
      progress_shown = true;
    };
  }

  auto stats = report::run_scan(o, sink);
  if (progress_shown) std::fputs("\r\033[K", stderr);
  if (const std::string closing = tally.closing_line(a.errors); !closing.empty()) {
    std::fprintf(stderr, "backstop scan: %s\n", closing.c_str());
  }
  if (errors && (std::fflush(errors.get()) != 0 || errors_failed)) {
    std::fprintf(stderr, "backstop scan: writing %s: %s\n", a.errors.c_str(), std::strerror(errno));
    return 2;
  }
  std::fflush(stdout);
  if (!stats) {
    std::fprintf(stderr, "backstop scan: %s\n", stats.error().message().c_str());
    return 2;
  }
  if (!jsonl && !csv) {
    std::string text = report::text_summary(agg.summary(), a.top, utc_now("%Y-%m-%d"));
    char tail[160];
    std::snprintf(tail, sizeof tail, "\nScanned in %.2f s (%.0f msgs/s, %.1f MB/s)\n",
                  stats->seconds,
                  stats->seconds > 0 ? static_cast<double>(stats->messages) / stats->seconds : 0.0,
                  stats->seconds > 0 ? static_cast<double>(stats->bytes) / 1e6 / stats->seconds : 0.0);
    text += tail;
    std::fputs(text.c_str(), stdout);
  }
  if (html) {
    report::HtmlOptions ho;
    for (std::size_t i = 0; i < a.paths.size(); ++i) ho.scanned += (i ? " " : "") + a.paths[i];
    ho.generated_at = utc_now();
    ho.today = utc_now("%Y-%m-%d");
    ho.top_n = std::max<std::size_t>(a.top, 15);
    std::string page = report::html_report(agg.summary(), ho);
    if (std::fwrite(page.data(), 1, page.size(), html.get()) != page.size() ||
        std::fflush(html.get()) != 0) {
      std::fprintf(stderr, "backstop scan: writing %s: %s\n", a.html.c_str(), std::strerror(errno));
      return 2;
    }
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

void add_scan(CLI::App& root, int* exit_code) {
  auto a = std::make_shared<ScanArgs>();
  auto* cmd = root.add_subcommand(
      "scan", "Classify every message in mbox, Maildir, MH or message files and report backscatter");
  cmd->add_option("paths", a->paths, "Files or directories (mbox, Maildir, MH, .eml)")->required();
  cmd->add_option("--format", a->format, "Output on stdout: summary (default), jsonl or csv")
      ->check(CLI::IsMember({"summary", "jsonl", "csv"}));
  cmd->add_option("--html", a->html, "Also write a self-contained HTML report to FILE");
  cmd->add_option("--errors", a->errors,
                  "Write every unreadable entry to FILE, one per line (stderr shows the first few)");
  cmd->add_option("-j,--jobs", a->jobs, "Classifier threads (default: all cores)")
      ->check(CLI::Range(0u, 1024u));
  cmd->add_option("--rules", a->rules, "Rules file (default: the built-in rules)");
  cmd->add_option("--trusted", a->trusted,
                  "CIDR of a relay of ours, skipped when attributing a message to its source (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--top", a->top, "Rows in each top-N table (default 10)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  cmd->add_flag("--no-progress", a->no_progress, "No progress line on stderr");
  cmd->callback([a, exit_code] { *exit_code = run(*a); });
}

}  // namespace backstop::app
