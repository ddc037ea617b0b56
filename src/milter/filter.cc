#include "milter/filter.h"

#include "milter/session.h"

namespace backstop::milter {
namespace {
std::string_view strip_braces(std::string_view n) {
  if (n.size() >= 2 && n.front() == '{' && n.back() == '}') return n.substr(1, n.size() - 2);
  return n;
}
int stage_index(char stage) {
  static constexpr char kStages[] = {'C', 'H', 'M', 'R', 'T', 'L', 'N', 'B', 'E', 'U'};
  for (int i = 0; i < static_cast<int>(sizeof(kStages)); ++i)
    if (kStages[i] == stage) return i;
  return -1;
}
}  // namespace

std::optional<std::string_view> Macros::get(std::string_view name) const {
  name = strip_braces(name);
  for (int i = static_cast<int>(sizeof(kStages)) - 1; i >= 0; --i) {
    for (const auto& [n, v] : by_stage_[i])
      if (strip_braces(n) == name) return std::string_view(v);
  }
  return std::nullopt;
}

void Macros::set_stage(char stage, std::vector<std::pair<std::string, std::string>> pairs) {
  int i = stage_index(stage);
  if (i < 0) return;  // unknown stage: ignored, as libmilter does
  std::size_t bytes = 0;
  std::size_t keep = 0;
  for (; keep < pairs.size(); ++keep) {
    bytes += pairs[keep].first.size() + pairs[keep].second.size();
    if (bytes > kMaxMacroBytesPerStage) break;
  }
  pairs.resize(keep);
  by_stage_[i] = std::move(pairs);
}

void Macros::clear_message_stages() {
  for (std::size_t i = 2; i < sizeof(kStages); ++i) by_stage_[i].clear();
}

void Macros::clear() {
  for (auto& s : by_stage_) s.clear();
}

}  // namespace backstop::milter
