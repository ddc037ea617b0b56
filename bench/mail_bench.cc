// Mail core throughput on the labelled corpora (read into memory first):
// parse_message, parse_header_section alone, and MboxSplitter over all the
// bytes as one mbox. Run: build/release/bench/mail_bench (BACKSTOP_SHARED set
// by hand, e.g. BACKSTOP_SHARED=../shared).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mail/header.h"
#include "mail/mailbox.h"
#include "mail/message.h"

namespace {

namespace fs = std::filesystem;

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> messages = [] {
    std::vector<std::string> out;
    const char* shared = std::getenv("BACKSTOP_SHARED");
    const fs::path root = fs::path(shared != nullptr ? shared : "../shared") / "corpora";
    std::vector<fs::path> files;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file() && it->path().filename() != "LABELS.tsv" && it->path().extension() != ".md") {
        files.push_back(it->path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      auto src = backstop::mail::open_source(f.string());
      if (!src) continue;
      while (auto r = (*src)->next()) {
        if (*r) out.push_back(std::move((*r)->bytes));
      }
    }
    return out;
  }();
  return messages;
}

void BM_ParseMessage(benchmark::State& state) {
  const auto& msgs = corpus();
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& m = msgs[i++ % msgs.size()];
    auto r = backstop::mail::parse_message(m);
    benchmark::DoNotOptimize(r);
    bytes += m.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["messages"] = static_cast<double>(msgs.size());
}
BENCHMARK(BM_ParseMessage);

void BM_HeaderSection(benchmark::State& state) {
  const auto& msgs = corpus();
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = backstop::mail::parse_header_section(msgs[i++ % msgs.size()]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_HeaderSection);

void BM_MboxSplitter(benchmark::State& state) {
  std::string box;
  for (const std::string& m : corpus()) box += "From x@y Thu Sep 18 17:54:04 2008\n" + m + "\n\n";
  for (auto _ : state) {
    backstop::mail::MboxSplitter s;
    std::size_t n = 0;
    for (std::size_t pos = 0; pos < box.size(); pos += 1 << 20) {
      s.feed(std::string_view(box).substr(pos, 1 << 20));
      while (auto r = s.next()) ++n;
    }
    s.finish();
    while (auto r = s.next()) ++n;
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * box.size()));
}
BENCHMARK(BM_MboxSplitter)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
