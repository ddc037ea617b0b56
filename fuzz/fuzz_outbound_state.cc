// Decoders of stored outbound state (rate windows, distinct-sender sketches,
// inbound facts) on arbitrary bytes: damage reads as empty state, never as a
// crash, and what decodes re-encodes to a state that decodes the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "outbound/counting.h"
#include "outbound/gate.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop::outbound;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::int64_t now = 1'800'000'000;
  SlidingCount c = SlidingCount::decode(in);
  if (c.total(now, 3600) < 0 && c.encode().size() > in.size() + 1) std::abort();
  c.add(now, 3600, 1);
  if (SlidingCount::decode(c.encode()).encode() != c.encode()) std::abort();
  SlidingDistinct d = SlidingDistinct::decode(in);
  const std::int64_t before = d.live(now, 3600).count();
  if (before < 0) std::abort();
  d.add(now, 3600, hash64(in));
  if (SlidingDistinct::decode(d.encode()).encode() != d.encode()) std::abort();
  if (auto f = decode_facts(in)) {
    if (decode_facts(encode(*f)) != f) std::abort();
  }
  return 0;
}
