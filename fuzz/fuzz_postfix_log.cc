// Postfix log-line parser and queue-id correlator on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "store/postfix_log.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop::store::postfix_log;
  constexpr std::int64_t kNow = 1'795'802'400;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto l = parse_line(in, kNow)) {
    if (l->queue_id.empty() || l->queue_id.size() > kMaxQueueIdBytes) std::abort();
  }
  Correlator c(kNow);
  std::vector<ImportedMessage> out;
  std::size_t start = 0;
  while (start <= in.size()) {
    auto nl = in.find('\n', start);
    if (nl == std::string_view::npos) nl = in.size();
    c.feed(in.substr(start, nl - start), &out);
    start = nl + 1;
  }
  c.finish(&out);
  for (const auto& m : out) {
    if (m.message_id.empty() || m.entry.recipients.size() > backstop::store::kMaxLedgerRecipients) std::abort();
  }
  return 0;
}
