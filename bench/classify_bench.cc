// Classifier throughput on the corpus mix ($BACKSTOP_SHARED/corpora, or
// BACKSTOP_SOURCE_DIR/../shared/corpora): every message the mailbox readers
// find, classified with the built-in rules. Two figures:
//   BM_ClassifyOnly      messages parsed once up front; classify() alone
//   BM_ParseAndClassify  parse_message() + classify() per message
// items/s = messages per second on one thread; bytes/s = raw message bytes.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "classify/classifier.h"
#include "classify/rules.h"
#include "mail/mailbox.h"
#include "mail/message.h"

namespace {

using backstop::classify::Classifier;

struct Corpus {
  std::vector<std::string> raw;
  std::vector<backstop::mail::Message> parsed;
  std::size_t bytes = 0;
};

std::string corpus_root() {
  if (const char* s = std::getenv("BACKSTOP_SHARED")) return std::string(s) + "/corpora";
  return std::string(BACKSTOP_SOURCE_DIR) + "/../shared/corpora";
}

const Corpus& corpus() {
  static const Corpus* c = [] {
    auto* out = new Corpus;
    auto source = backstop::mail::open_source(corpus_root());
    if (!source) {
      std::fprintf(stderr, "classify_bench: %s\n", source.error().to_string().c_str());
      return out;
    }
    while (auto item = (*source)->next()) {
      if (!*item) continue;
      auto msg = backstop::mail::parse_message((*item)->bytes);
      if (!msg) continue;  // LABELS.tsv, LICENSE and other non-mail files
      out->bytes += (*item)->bytes.size();
      out->raw.push_back(std::move((*item)->bytes));
      out->parsed.push_back(std::move(*msg));
    }
    return out;
  }();
  return *c;
}

const Classifier& classifier() {
  static const Classifier* c = [] {
    auto rules = backstop::classify::builtin_rules();
    if (!rules) std::abort();
    return new Classifier(*rules);
  }();
  return *c;
}

void BM_ClassifyOnly(benchmark::State& state) {
  const Corpus& c = corpus();
  const Classifier& cl = classifier();
  if (c.parsed.empty()) {
    state.SkipWithError("no corpus");
    return;
  }
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    auto v = cl.classify(c.parsed[i]);
    benchmark::DoNotOptimize(v);
    bytes += c.raw[i].size();
    if (++i == c.parsed.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["corpus_messages"] = static_cast<double>(c.parsed.size());
}
BENCHMARK(BM_ClassifyOnly)->MinTime(3.0);

void BM_ParseAndClassify(benchmark::State& state) {
  const Corpus& c = corpus();
  const Classifier& cl = classifier();
  if (c.raw.empty()) {
    state.SkipWithError("no corpus");
    return;
  }
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    auto m = backstop::mail::parse_message(c.raw[i]);
    if (m) {
      auto v = cl.classify(*m);
      benchmark::DoNotOptimize(v);
    }
    bytes += c.raw[i].size();
    if (++i == c.raw.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ParseAndClassify)->MinTime(3.0);

void BM_CompileBuiltinRules(benchmark::State& state) {
  for (auto _ : state) {
    auto r = backstop::classify::compile_rules(backstop::classify::builtin_rules_text());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_CompileBuiltinRules)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
