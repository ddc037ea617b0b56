// MboxSplitter fed the input in chunks whose sizes come from the input.
// Input: byte 0 = chunk-size seed, then the mbox bytes. Invariants: messages
// come out in index order, under the cap, and no more bytes than were fed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mail/mailbox.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop::mail;
  if (size < 1) return 0;
  constexpr std::size_t kCap = 4096;  // small cap so the fuzzer reaches it
  std::uint32_t seed = data[0] | 1u;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  MboxSplitter s(kCap);
  std::size_t expect_index = 0, total = 0;
  auto drain = [&] {
    while (auto r = s.next()) {
      if (*r) {
        const RawMessage& m = **r;
        if (m.index != expect_index || m.bytes.size() > kCap || m.offset > in.size()) std::abort();
        total += m.bytes.size();
      }
      ++expect_index;
    }
  };
  std::size_t pos = 0;
  while (pos < in.size()) {
    seed = seed * 1103515245u + 12345u;
    const std::size_t chunk = 1 + (seed >> 16) % 257;
    s.feed(in.substr(pos, chunk));
    pos += chunk;
    drain();
  }
  s.finish();
  drain();
  if (total > in.size()) std::abort();
  return 0;
}
