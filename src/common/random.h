// Randomness behind an interface: secrets come from OpenSSL's CSPRNG, tests
// use a deterministic source. Thread-safety: implementations are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/result.h"

namespace backstop {

class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with random bytes. kUnavailable if the generator fails.
  virtual Status fill(std::span<std::uint8_t> out) = 0;
};

// OpenSSL RAND_bytes. secure_random() returns a process-wide instance.
Random& secure_random();

// Deterministic (splitmix64) source for tests only.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}
  Status fill(std::span<std::uint8_t> out) override;

 private:
  std::uint64_t state_;
};

}  // namespace backstop
