#include "report/scanner.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>

#include "report/extract.h"

namespace backstop::report {
namespace {

using Clock = std::chrono::steady_clock;

// Wake-ups are batched: each futex wake costs a system call and a context
// switch, and waking the reader and the emitter once per message cost ~20% of
// a scan of small messages (perf, docs/benchmarks.md). A reader that found the
// window full sleeps until it is at most half full; a worker wakes the emitter
// only when kEmitBatch results wait or when the work queue has run dry (so the
// last results of a run, or of a full window, are never left waiting).
constexpr std::size_t kEmitBatch = 64;

struct Work {
  std::uint64_t seq = 0;
  mail::RawMessage raw;
};

// The result of one sequence number: a record or an error, and for a record
// of a damaged message (truncated, cut at the size cap) a warning that is
// reported as an error of that file while the record is still delivered.
struct Output {
  std::variant<MessageRecord, ErrorRecord> result;
  std::optional<ErrorRecord> warning;
};

// Shared state of one scan; every field is guarded by `mu`.
struct Pipeline {
  std::mutex mu;
  std::condition_variable work_cv;   // workers: work queued or reader done
  std::condition_variable space_cv;  // reader: window has room
  std::condition_variable out_cv;    // emitter: a result or the end arrived
  std::deque<Work> queue;
  std::map<std::uint64_t, Output> ready;
  std::size_t inflight_items = 0;    // sequenced, not yet emitted
  std::size_t inflight_bytes = 0;    // raw bytes queued or being classified
  std::uint64_t next_seq = 0;        // next sequence number the reader hands out
  bool reader_done = false;
  bool reader_waiting = false;       // the reader sleeps on space_cv
  std::uint64_t bytes_read = 0;
  std::size_t paths_opened = 0;
  std::size_t paths_failed = 0;
};

ErrorRecord to_error(std::string file, std::size_t index, const Error& e) {
  return ErrorRecord{std::move(file), index, std::string(code_name(e.code())), e.message()};
}

class Runner {
 public:
  Runner(const ScanOptions& o, const ScanSink& sink)
      : o_(o), sink_(sink), classifier_(o.rules) {}

  ScanStats run() {
    unsigned jobs = o_.jobs ? o_.jobs : std::max(1u, std::thread::hardware_concurrency());
    auto start = Clock::now();
    std::thread reader([this] { read_all(); });
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < jobs; ++i) workers.emplace_back([this] { work(); });
    ScanStats stats = emit(start);
    reader.join();
    for (auto& t : workers) t.join();
    stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    stats.paths_opened = p_.paths_opened;
    stats.paths_failed = p_.paths_failed;
    return stats;
  }

 private:
  // Reserves a place in the window for one result holding `bytes` raw bytes
  // and returns its sequence number.
  std::uint64_t acquire(std::unique_lock<std::mutex>& lk, std::size_t bytes) {
    auto bytes_fit = [&] {
      return bytes == 0 || p_.inflight_bytes == 0 || p_.inflight_bytes + bytes <= o_.max_inflight_bytes;
    };
    if (p_.inflight_items >= o_.max_inflight_items || !bytes_fit()) {
      // Full: wait until the window is at most half full (see kEmitBatch).
      p_.reader_waiting = true;
      p_.space_cv.wait(lk, [&] { return p_.inflight_items <= low_water() && bytes_fit(); });
      p_.reader_waiting = false;
    }
    ++p_.inflight_items;
    p_.inflight_bytes += bytes;
    return p_.next_seq++;
  }

  std::size_t low_water() const { return (o_.max_inflight_items - 1) / 2; }

  // Caller holds p_.mu.
  void wake_reader() {
    if (p_.reader_waiting && p_.inflight_items <= low_water()) p_.space_cv.notify_one();
  }

  void push_error(ErrorRecord e) {
    std::unique_lock lk(p_.mu);
    std::uint64_t seq = acquire(lk, 0);
    p_.ready.emplace(seq, Output{std::move(e), std::nullopt});
    p_.out_cv.notify_one();
  }

  void read_all() {
    for (const std::string& path : o_.paths) {
      auto src = mail::open_source(path, o_.max_message_bytes);
      if (!src) {
        {
          std::lock_guard lk(p_.mu);
          ++p_.paths_failed;
        }
        push_error(to_error(path, 0, src.error()));
        continue;
      }
      {
        std::lock_guard lk(p_.mu);
        ++p_.paths_opened;
      }
      while (true) {
        std::optional<expected<mail::RawMessage, mail::ReadError>> item;
        try {
          item = (*src)->next();
        } catch (const std::exception& e) {
          push_error(ErrorRecord{path, 0, "internal", std::string("reader failed: ") + e.what()});
          break;
        }
        if (!item) break;
        if (!*item) {
          const mail::ReadError& re = item->error();
          push_error(to_error(re.location, re.index, re.error));
          continue;
        }
        mail::RawMessage raw = std::move(**item);
        std::size_t n = raw.bytes.size();
        std::unique_lock lk(p_.mu);
        p_.bytes_read += n;
        std::uint64_t seq = acquire(lk, n);
        p_.queue.push_back(Work{seq, std::move(raw)});
        p_.work_cv.notify_one();
      }
    }
    std::lock_guard lk(p_.mu);
    p_.reader_done = true;
    p_.work_cv.notify_all();
    p_.out_cv.notify_all();
  }

  Output process(const mail::RawMessage& raw) {
    try {
      auto msg = mail::parse_message(raw.bytes);
      if (!msg) return Output{to_error(raw.location, raw.index, msg.error()), std::nullopt};
      classify::Verdict v = classifier_.classify(*msg, mail::envelope_from_mbox(raw.envelope_from));
      Output out{make_record(raw, *msg, v, o_.trusted), std::nullopt};
      if (msg->has(mail::Condition::kMessageTooLarge)) {
        out.warning = ErrorRecord{raw.location, raw.index, "too-large",
                                  "message cut at the size cap; classified from its first " +
                                      std::to_string(raw.bytes.size()) + " bytes"};
      } else if (msg->has(mail::Condition::kNoBody)) {
        out.warning = ErrorRecord{raw.location, raw.index, "truncated",
                                  "message ends inside its header section; classified from "
                                  "what was read"};
      }
      return out;
    } catch (const std::exception& e) {
      return Output{ErrorRecord{raw.location, raw.index, "internal",
                                std::string("classification failed: ") + e.what()},
                    std::nullopt};
    }
  }

  void work() {
    while (true) {
      Work w;
      {
        std::unique_lock lk(p_.mu);
        p_.work_cv.wait(lk, [&] { return !p_.queue.empty() || p_.reader_done; });
        if (p_.queue.empty()) return;
        w = std::move(p_.queue.front());
        p_.queue.pop_front();
      }
      std::size_t n = w.raw.bytes.size();
      Output out = process(w.raw);
      w.raw.bytes = std::string();  // free the raw bytes before waiting on the lock
      std::lock_guard lk(p_.mu);
      p_.inflight_bytes -= n;
      p_.ready.emplace(w.seq, std::move(out));
      if (p_.ready.size() >= kEmitBatch || p_.queue.empty()) p_.out_cv.notify_one();
      wake_reader();  // the bytes it waits for may now fit
    }
  }

  ScanStats emit(Clock::time_point start) {
    ScanStats stats;
    std::uint64_t next = 0;
    auto last_progress = start;
    auto interval = std::chrono::milliseconds(sink_.progress_interval_ms);
    while (true) {
      std::optional<Output> out;
      std::uint64_t bytes_read = 0;
      {
        std::unique_lock lk(p_.mu);
        auto have = [&] {
          return p_.ready.count(next) != 0 || (p_.reader_done && next == p_.next_seq);
        };
        if (sink_.on_progress) {
          p_.out_cv.wait_for(lk, interval, have);
        } else {
          p_.out_cv.wait(lk, have);
        }
        bytes_read = p_.bytes_read;
        auto it = p_.ready.find(next);
        if (it != p_.ready.end()) {
          out = std::move(it->second);
          p_.ready.erase(it);
          --p_.inflight_items;
          ++next;
          wake_reader();
        } else if (p_.reader_done && next == p_.next_seq) {
          stats.bytes = p_.bytes_read;
          return stats;
        }
      }
      if (out) {
        if (out->warning) {
          ++stats.errors;
          if (sink_.on_error) sink_.on_error(*out->warning);
        }
        if (auto* m = std::get_if<MessageRecord>(&out->result)) {
          ++stats.messages;
          if (sink_.on_message) sink_.on_message(*m);
        } else {
          ++stats.errors;
          if (sink_.on_error) sink_.on_error(std::get<ErrorRecord>(out->result));
        }
      }
      if (sink_.on_progress) {
        auto now = Clock::now();
        if (now - last_progress >= interval) {
          last_progress = now;
          sink_.on_progress(ScanProgress{stats.messages + stats.errors, bytes_read,
                                         std::chrono::duration<double>(now - start).count()});
        }
      }
    }
  }

  const ScanOptions& o_;
  const ScanSink& sink_;
  classify::Classifier classifier_;
  Pipeline p_;
};

}  // namespace

Result<ScanStats> run_scan(const ScanOptions& options, const ScanSink& sink) {
  if (options.paths.empty()) return fail(Code::kInvalidArgument, "no path to scan");
  if (!options.rules) return fail(Code::kInvalidArgument, "no classification rules");
  if (options.max_inflight_items == 0) {
    return fail(Code::kInvalidArgument, "max_inflight_items must be positive");
  }
  Runner runner(options, sink);
  ScanStats stats = runner.run();
  if (stats.paths_opened == 0) {
    return fail(Code::kNotFound, "no readable path among the " +
                                     std::to_string(options.paths.size()) + " given");
  }
  return stats;
}

}  // namespace backstop::report
