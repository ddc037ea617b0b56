// BATV key file parser and rotation on arbitrary text: a parse never crashes;
// a rotation of a parsable file parses again, signs with the new digit, and
// keeps every old key with its secret (so outstanding tags still verify).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "batv/key_file.h"
#include "common/random.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ring = batv::parse_key_file(text);
  SeededRandom random(size);
  int key = -1;
  auto rotated = batv::rotated_key_file(text, random, &key);
  if (ring && !rotated && rotated.error().code() == Code::kTooLarge) {
    // a parsable file near the size limit may not grow by a key
    if (text.size() + 128 < batv::kMaxKeyFileBytes) std::abort();
    return 0;
  }
  if (rotated.has_value() != ring.has_value() && ring.has_value()) {
    // a parsable file fails to rotate only when all ten digits are used
    int used = 0;
    for (int k = 0; k <= 9; ++k) used += ring->find(k) != nullptr;
    if (used != 10) std::abort();
  }
  if (!rotated) return 0;
  if (!ring) std::abort();
  auto again = batv::parse_key_file(*rotated);
  if (!again || again->signing_key() != key || again->find(key) == nullptr) std::abort();
  for (int k = 0; k <= 9; ++k) {
    const std::string* before = ring->find(k);
    const std::string* after = again->find(k);
    if (before && (!after || *after != *before)) std::abort();
  }
  return 0;
}
