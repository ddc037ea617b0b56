#include "report/aggregate.h"

#include <algorithm>

namespace backstop::report {

void TopCounter::add(const std::string& key, std::uint64_t n) {
  auto it = counts_.find(key);
  if (it != counts_.end()) {
    it->second += n;
  } else if (counts_.size() < kMaxDistinct) {
    counts_.emplace(key, n);
  } else {
    other_ += n;
  }
}

std::vector<std::pair<std::string, std::uint64_t>> TopCounter::top(std::size_t n) const {
  std::vector<std::pair<std::string, std::uint64_t>> v(counts_.begin(), counts_.end());
  if (other_ > 0) v.emplace_back("(other)", other_);
  auto cmp = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  if (v.size() > n) {
    std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n), v.end(), cmp);
    v.resize(n);
  } else {
    std::sort(v.begin(), v.end(), cmp);
  }
  return v;
}

Aggregator::Aggregator() {
  for (const char* k : {"none", "bounce", "virus_notice", "challenge", "subscription_confirm",
                        "autoreply"}) {
    s_.by_kind[k] = 0;
  }
}

void Aggregator::add(const MessageRecord& r) {
  if (r.file != last_file_) {
    ++s_.files;
    last_file_ = r.file;
  }
  ++s_.messages;
  s_.bytes += r.size;
  ++s_.by_kind[r.kind];
  if (r.feedback_report) ++s_.feedback_reports;
  if (r.day.empty()) {
    ++s_.undated;
  } else if (s_.by_day.size() < kMaxDistinct || s_.by_day.count(r.day) != 0) {
    ++s_.by_day[r.day][r.kind];
  } else {
    ++s_.undated;
  }
  if (r.kind == "none") return;
  ++s_.backscatter;
  if (!r.source_ip.empty()) {
    s_.sources.add(r.source_host.empty() ? r.source_ip : r.source_ip + " (" + r.source_host + ")");
  }
  for (const std::string& rcpt : r.local_recipients) s_.recipients.add(rcpt);
  if (!r.refs.original_sender.empty()) {
    s_.forged_senders.add(r.refs.original_sender);
  } else if (!r.refs.from.empty()) {
    s_.forged_senders.add(r.refs.from);
  }
}

void Aggregator::add_error(const ErrorRecord& e) {
  if (e.file != last_file_) {
    ++s_.files;
    last_file_ = e.file;
  }
  ++s_.errors;
  ++s_.errors_by_code[e.code];
  if (s_.error_samples.size() < kMaxErrorSamples) s_.error_samples.push_back(e);
}

}  // namespace backstop::report
