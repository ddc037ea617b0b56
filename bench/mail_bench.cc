// Mail core throughput on the labelled corpora (read into memory first):
// parse_message, parse_header_section alone, and MboxSplitter over all the
// bytes as one mbox; and a milter's message (header fields + body) parsed
// from its fields or from the text rebuilt from them, on the corpora and on
// milter_load's synthetic message. Run: build/release/bench/mail_bench
// (BACKSTOP_SHARED set by hand, e.g. BACKSTOP_SHARED=../shared).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mail/elide.h"
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

// A list message with one base64 attachment of state.range(0) decoded bytes
// (pseudo-random, as a PDF or image is): a text/plain part of ~2 KB and the
// attachment in a multipart/mixed. Parse cost against attachment size.
std::string attachment_message(std::size_t attach_bytes) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string m =
      "Return-Path: <list-bounces@lists.example.org>\r\n"
      "Received: from mx.example.org (mx.example.org [192.0.2.10]) by mail.example.net\r\n"
      "\twith ESMTP id 4F2A1; Thu, 1 Jan 2026 10:00:00 +0000\r\n"
      "From: Some One <someone@example.org>\r\n"
      "To: dev@lists.example.org\r\n"
      "Subject: [dev] minutes of the meeting, with the slides\r\n"
      "Date: Thu, 1 Jan 2026 10:00:00 +0000\r\n"
      "Message-ID: <bench.1@example.org>\r\n"
      "List-Id: <dev.lists.example.org>\r\n"
      "List-Unsubscribe: <mailto:dev-request@lists.example.org?subject=unsubscribe>\r\n"
      "Precedence: list\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"=_bench_boundary\"\r\n"
      "\r\n"
      "--=_bench_boundary\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "\r\n";
  for (int i = 0; i < 30; ++i) m += "Here are the minutes of today's meeting; the slides are attached.\r\n";
  m += "\r\n--=_bench_boundary\r\n"
       "Content-Type: application/pdf; name=\"slides.pdf\"\r\n"
       "Content-Transfer-Encoding: base64\r\n"
       "Content-Disposition: attachment; filename=\"slides.pdf\"\r\n\r\n";
  std::uint32_t x = 2463534242u;
  const std::size_t chars = (attach_bytes + 2) / 3 * 4;
  for (std::size_t i = 0; i < chars; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    m.push_back(kB64[x & 63]);
    if (i % 76 == 75) m += "\r\n";
  }
  m += "\r\n--=_bench_boundary--\r\n";
  return m;
}

void BM_ParseAttachment(benchmark::State& state) {
  const std::string m = attachment_message(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto r = backstop::mail::parse_message(m);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * m.size()));
}
BENCHMARK(BM_ParseAttachment)->Arg(0)->Arg(8 << 10)->Arg(100 << 10)->Arg(1 << 20)->Arg(10 << 20);

// The same with every byte given to GMime (nothing left out): what GMime's
// parser costs on the attachment.
void BM_ParseAttachmentWhole(benchmark::State& state) {
  const std::string m = attachment_message(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto r = backstop::mail::detail::parse_message_whole(m);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * m.size()));
}
BENCHMARK(BM_ParseAttachmentWhole)->Arg(0)->Arg(8 << 10)->Arg(100 << 10)->Arg(1 << 20)->Arg(10 << 20);

// The same messages through the mbox splitter (1 MiB feeds, as the reader).
void BM_MboxSplitterAttachment(benchmark::State& state) {
  const std::string m = attachment_message(static_cast<std::size_t>(state.range(0)));
  std::string box;
  while (box.size() < (64u << 20)) box += "From x@y Thu Sep 18 17:54:04 2008\n" + m + "\n\n";
  std::size_t n = 0;
  for (auto _ : state) {
    backstop::mail::MboxSplitter s;
    for (std::size_t pos = 0; pos < box.size(); pos += 1 << 20) {
      s.feed(std::string_view(box).substr(pos, 1 << 20));
      while (auto r = s.next()) ++n;
    }
    s.finish();
    while (auto r = s.next()) ++n;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * box.size()));
}
BENCHMARK(BM_MboxSplitterAttachment)->Arg(8 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

// A message as a milter holds it: the header fields as the MTA sent them
// (folded lines joined by LF, as Postfix does, leading blanks of the value
// removed) and the body.
struct MilterMessage {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

MilterMessage to_milter(std::string_view raw) {
  MilterMessage m;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    const std::size_t nl = raw.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? raw.size() : nl;
    std::string_view line = raw.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? raw.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if ((line.front() == ' ' || line.front() == '\t') && !m.headers.empty()) {
      m.headers.back().second.append("\n").append(line);
      continue;
    }
    const std::size_t colon = line.find(':');
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    m.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  m.body = std::string(raw.substr(pos));
  return m;
}

// The corpora as milter messages (arg 0), or milter_load's message with
// --message-id (arg 1): 32 X-Load headers, a Message-ID, a 5,000-byte body.
const std::vector<MilterMessage>& milter_messages(std::int64_t which) {
  static const std::vector<MilterMessage> from_corpus = [] {
    std::vector<MilterMessage> out;
    for (const std::string& m : corpus()) out.push_back(to_milter(m));
    return out;
  }();
  static const std::vector<MilterMessage> synthetic = [] {
    MilterMessage m;
    m.headers.emplace_back("Message-ID", "<load.1.0123456789abcdef@example.org>");
    for (int h = 0; h < 32; ++h) m.headers.emplace_back("X-Load-" + std::to_string(h), "value 0123456789abcdef");
    while (m.body.size() < 5000) m.body += "This is a line of a load-test message body.\r\n";
    m.body.resize(5000);
    return std::vector<MilterMessage>{m};
  }();
  return which == 0 ? from_corpus : synthetic;
}

// What the milter did before: write the message out as text, parse it.
std::string as_text(const MilterMessage& m) {
  std::string raw;
  std::size_t size = m.body.size() + 2;
  for (const auto& [n, v] : m.headers) size += n.size() + v.size() + 4;
  raw.reserve(size);
  for (const auto& [n, v] : m.headers) raw.append(n).append(": ").append(v).append("\r\n");
  raw.append("\r\n").append(m.body);
  return raw;
}

std::vector<backstop::mail::FieldView> views_of(const MilterMessage& m) {
  std::vector<backstop::mail::FieldView> v;
  v.reserve(m.headers.size());
  for (const auto& [n, x] : m.headers) v.push_back({n, x});
  return v;
}

// Each iteration takes every message of the set once, so that the figures
// (and instruction counts under callgrind) cover the same messages whatever
// the iteration count; items are messages.
template <class Parse>
void run_milter(benchmark::State& state, Parse parse) {
  const auto& msgs = milter_messages(state.range(0));
  for (auto _ : state) {
    for (const MilterMessage& m : msgs) parse(m);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * msgs.size()));
}

void BM_MilterParseFromText(benchmark::State& state) {
  run_milter(state, [](const MilterMessage& m) {
    const std::string raw = as_text(m);
    auto r = backstop::mail::parse_message(raw);
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_MilterParseFromText)->Arg(0)->Arg(1);

void BM_MilterParseFromFields(benchmark::State& state) {
  run_milter(state, [](const MilterMessage& m) {
    auto r = backstop::mail::parse_message(views_of(m), m.body);
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_MilterParseFromFields)->Arg(0)->Arg(1);

// The header section alone (what the outbound gate reads first).
void BM_MilterHeadersFromText(benchmark::State& state) {
  run_milter(state, [](const MilterMessage& m) {
    const std::string raw = as_text(m);
    auto r = backstop::mail::parse_header_section(raw);
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_MilterHeadersFromText)->Arg(0)->Arg(1);

void BM_MilterHeadersFromFields(benchmark::State& state) {
  run_milter(state, [](const MilterMessage& m) {
    auto r = backstop::mail::parse_header_fields(views_of(m));
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_MilterHeadersFromFields)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
