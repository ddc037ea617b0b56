#include "common/random.h"

#include <openssl/rand.h>

#include <climits>

#include "common/clock.h"

namespace backstop {
namespace {

class OpenSslRandom final : public Random {
 public:
  Status fill(std::span<std::uint8_t> out) override {
    std::size_t done = 0;
    while (done < out.size()) {
      std::size_t n = out.size() - done;
      if (n > INT_MAX) n = INT_MAX;
      if (RAND_bytes(out.data() + done, static_cast<int>(n)) != 1) {
        return fail(Code::kUnavailable, "OpenSSL RAND_bytes failed");
      }
      done += n;
    }
    return {};
  }
};

}  // namespace

Random& secure_random() {
  static OpenSslRandom instance;
  return instance;
}

const Clock& system_clock() {
  static const SystemClock instance;
  return instance;
}

Status SeededRandom::fill(std::span<std::uint8_t> out) {
  for (auto& b : out) {
    state_ += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    b = static_cast<std::uint8_t>(z ^ (z >> 31));
  }
  return {};
}

}  // namespace backstop
