// BATV tag parser and verifier on arbitrary addresses, plus the round trip:
// whatever we sign must verify as valid on the signing day.
// Input: byte 0 = key digit (mod 10), byte 1 = secret length (mod 65), the
// secret, then the address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "batv/batv.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace backstop::batv;
  if (size < 2) return 0;
  const int key = data[0] % 10;
  const std::size_t secret_len = data[1] % (kMaxSecretBytes + 1);
  if (size < 2 + secret_len) return 0;
  const std::string secret(reinterpret_cast<const char*>(data + 2), secret_len);
  const std::string_view address(reinterpret_cast<const char*>(data + 2 + secret_len), size - 2 - secret_len);
  const std::int64_t day = 19723 + data[0];

  KeyRing ring;
  if (!ring.add(key, secret)) std::abort();
  const Parsed p = parse(address);
  if (p.form == Form::kPrvs && (p.key < 0 || p.key > 9 || p.ddd < 0 || p.ddd > 999 || p.hash.size() != 6)) {
    std::abort();
  }
  const Verification v = verify(ring, address, day);
  if (v.address.size() > address.size() + 1) std::abort();  // foreign forms rebuild local@domain
  (void)looks_tagged(address);

  const SignResult s = sign(ring, {}, address, day);
  if (s.status == SignStatus::kSigned) {
    const Verification back = verify(ring, s.address, day);
    if (back.verdict != Verdict::kValid || back.address != address || back.key != key) std::abort();
    if (sign(ring, {}, s.address, day).status != SignStatus::kAlreadyTagged) std::abort();
  }
  return 0;
}
