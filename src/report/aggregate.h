// Aggregation of scan results for the summary and the HTML report: counts and
// share by kind, messages by day, top sources, recipients and forged senders
// of backscatter, errors by type.
// Memory: bounded. Each "top" table keeps at most kMaxDistinct keys; keys
// seen after that are counted under "(other)". Errors keep the first
// kMaxErrorSamples records verbatim, then only counts.
// Thread-safety: not synchronised; one thread adds (the scan's output stage).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "report/record.h"

namespace backstop::report {

inline constexpr std::size_t kMaxDistinct = 100000;
inline constexpr std::size_t kMaxErrorSamples = 1000;

// A bounded counter of string keys.
class TopCounter {
 public:
  void add(const std::string& key, std::uint64_t n = 1);
  // The `n` largest counts, ties by key; "(other)" included when it is among them.
  std::vector<std::pair<std::string, std::uint64_t>> top(std::size_t n) const;
  std::size_t distinct() const noexcept { return counts_.size(); }

 private:
  std::unordered_map<std::string, std::uint64_t> counts_;
  std::uint64_t other_ = 0;
};

struct Summary {
  std::uint64_t messages = 0;       // classified messages
  std::uint64_t backscatter = 0;    // kind != none
  std::uint64_t feedback_reports = 0;
  std::uint64_t bytes = 0;          // bytes of classified messages
  std::uint64_t errors = 0;
  std::uint64_t files = 0;          // distinct files that held a message or an error
  std::map<std::string, std::uint64_t> by_kind;                   // every kind, 0 included
  std::map<std::string, std::map<std::string, std::uint64_t>> by_day;  // day -> kind -> n
  std::uint64_t undated = 0;        // messages with no parsable Date
  TopCounter sources;               // backscatter: "ip (host)"
  TopCounter recipients;            // backscatter: local recipients hit
  TopCounter forged_senders;        // backscatter: original sender / original From
  std::map<std::string, std::uint64_t> errors_by_code;
  std::vector<ErrorRecord> error_samples;
};

class Aggregator {
 public:
  Aggregator();
  void add(const MessageRecord& r);
  void add_error(const ErrorRecord& e);
  const Summary& summary() const noexcept { return s_; }

 private:
  Summary s_;
  std::string last_file_;
};

}  // namespace backstop::report
