#include "batv/batv.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "common/text.h"

namespace backstop::batv {
namespace {

// "prvs=" + K + DDD + 6 hex + "=".
constexpr std::size_t kPrvsPrefixBytes = 5 + 1 + 3 + 6 + 1;
// K DDD + 6 hex: the tag value of the old local-part-first form.
constexpr std::size_t kTagValueBytes = 10;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool all_of(std::string_view s, bool (*pred)(char)) { return std::all_of(s.begin(), s.end(), pred); }

// K DDD hhhhhh
bool is_tag_value(std::string_view v) {
  return v.size() == kTagValueBytes && all_of(v.substr(0, 4), is_digit) && all_of(v.substr(4), is_hex);
}

bool is_tag_token_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

// The draft's meta-syntax prefix: tag-type "=" tag-val "=".
bool has_meta_syntax(std::string_view local) {
  auto first = local.find('=');
  if (first == 0 || first == std::string_view::npos) return false;
  auto second = local.find('=', first + 1);
  if (second == std::string_view::npos || second == first + 1) return false;
  return all_of(local.substr(0, first), is_tag_token_char) &&
         all_of(local.substr(first + 1, second - first - 1), is_tag_token_char);
}

Parsed foreign(std::string_view scheme, std::string_view local, std::string_view domain) {
  Parsed p;
  p.form = local.empty() ? Form::kMalformed : Form::kForeign;
  p.scheme = scheme;
  p.local = local;
  p.domain = domain;
  return p;
}

Parsed parse_prvs(std::string_view local, std::string_view domain) {
  const std::string_view rest = local.substr(5);
  if (rest.size() > kTagValueBytes + 1 && is_tag_value(rest.substr(0, kTagValueBytes)) &&
      rest[kTagValueBytes] == '=') {
    Parsed p;
    p.form = Form::kPrvs;
    p.scheme = "prvs";
    p.key = rest[0] - '0';
    p.ddd = (rest[1] - '0') * 100 + (rest[2] - '0') * 10 + (rest[3] - '0');
    p.hash = rest.substr(4, 6);
    p.local = rest.substr(kTagValueBytes + 1);
    p.domain = domain;
    return p;
  }
  // Old local-part-first form: prvs=local=KDDDhhhhhh@domain.
  if (rest.size() > kTagValueBytes + 1 && is_tag_value(rest.substr(rest.size() - kTagValueBytes)) &&
      rest[rest.size() - kTagValueBytes - 1] == '=') {
    return foreign("prvs-old", rest.substr(0, rest.size() - kTagValueBytes - 1), domain);
  }
  Parsed p;
  p.form = Form::kMalformed;
  p.scheme = "prvs";
  return p;
}

// HMAC-SHA1(secret, K·DDD·address), first 3 bytes as lower-case hex.
std::string hash6(std::string_view secret, int key, int ddd, std::string_view address) {
  std::string msg;
  msg.reserve(4 + address.size());
  msg.push_back(static_cast<char>('0' + key));
  msg.push_back(static_cast<char>('0' + ddd / 100));
  msg.push_back(static_cast<char>('0' + ddd / 10 % 10));
  msg.push_back(static_cast<char>('0' + ddd % 10));
  msg.append(address);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const unsigned char kEmpty[1] = {0};
  const void* k = secret.empty() ? static_cast<const void*>(kEmpty) : secret.data();
  const unsigned char* out =
      HMAC(EVP_sha1(), k, static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md, &len);
  BACKSTOP_INVARIANT(out != nullptr && len >= 3);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(6, '0');
  for (int i = 0; i < 3; ++i) {
    hex[static_cast<std::size_t>(2 * i)] = kHex[md[i] >> 4];
    hex[static_cast<std::size_t>(2 * i + 1)] = kHex[md[i] & 0xf];
  }
  return hex;
}

bool split_address(std::string_view address, std::string_view* local, std::string_view* domain) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return false;
  *local = address.substr(0, at);
  *domain = address.substr(at + 1);
  return true;
}

}  // namespace

std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kValid: return "valid";
    case Verdict::kExpired: return "expired";
    case Verdict::kBadHash: return "bad-hash";
    case Verdict::kNotTagged: return "not-tagged";
    case Verdict::kForeignForm: return "foreign-form";
    case Verdict::kUnknownKey: return "unknown-key";
    case Verdict::kMalformed: return "malformed";
  }
  return "malformed";
}

std::string_view sign_status_name(SignStatus s) {
  switch (s) {
    case SignStatus::kSigned: return "signed";
    case SignStatus::kAlreadyTagged: return "already-tagged";
    case SignStatus::kNullSender: return "null-sender";
    case SignStatus::kForeignDomain: return "not-our-domain";
    case SignStatus::kMalformed: return "malformed";
    case SignStatus::kNoKey: return "no-key";
    case SignStatus::kTooLong: return "too-long";
  }
  return "malformed";
}

Status KeyRing::add(int key, std::string secret) {
  if (key < 0 || key > 9) return fail(Code::kInvalidArgument, "BATV key number must be 0-9");
  if (secret.size() > kMaxSecretBytes) {
    return fail(Code::kInvalidArgument, "BATV secret longer than 64 bytes (Exim refuses them too)");
  }
  auto& slot = secrets_[static_cast<std::size_t>(key)];
  if (slot) return fail(Code::kInvalidArgument, "BATV key " + std::to_string(key) + " given twice");
  slot = std::move(secret);
  if (!signing_) signing_ = key;
  return {};
}

const std::string* KeyRing::find(int key) const {
  if (key < 0 || key > 9) return nullptr;
  const auto& slot = secrets_[static_cast<std::size_t>(key)];
  return slot ? &*slot : nullptr;
}

bool KeyRing::empty() const { return !signing_.has_value(); }

std::optional<int> KeyRing::signing_key() const { return signing_; }

Status KeyRing::set_signing_key(int key) {
  if (!find(key)) return fail(Code::kInvalidArgument, "no BATV secret for key " + std::to_string(key));
  signing_ = key;
  return {};
}

Parsed parse(std::string_view address) {
  Parsed p;
  std::string_view local, domain;
  if (address.size() > kMaxAddressBytes || !split_address(address, &local, &domain)) {
    p.form = Form::kMalformed;
    return p;
  }
  if (text::istarts_with(local, "prvs=")) return parse_prvs(local, domain);
  if (text::istarts_with(local, "btv1==")) {
    auto rest = local.substr(6);
    auto sep = rest.find("==");
    if (sep == 0 || sep == std::string_view::npos) return foreign("btv1", {}, domain);
    return foreign("btv1", rest.substr(sep + 2), domain);
  }
  if (text::istarts_with(local, "msprvs1=")) {
    auto rest = local.substr(8);
    auto sep = rest.find('=');
    if (sep == 0 || sep == std::string_view::npos) return foreign("msprvs1", {}, domain);
    return foreign("msprvs1", rest.substr(sep + 1), domain);
  }
  p.local = local;
  p.domain = domain;
  return p;
}

bool looks_tagged(std::string_view address) {
  const Parsed p = parse(address);
  if (p.form == Form::kPrvs || p.form == Form::kForeign) return true;
  if (p.form == Form::kMalformed && !p.scheme.empty()) return true;  // "prvs=" that does not parse
  return p.form == Form::kNone && has_meta_syntax(p.local);
}

int expiry_stamp(std::int64_t day, int lifetime) {
  return static_cast<int>((((day + lifetime) % 1000) + 1000) % 1000);
}

Result<std::string> sign_raw(std::string_view secret, int key, int ddd, std::string_view address) {
  std::string_view local, domain;
  if (!split_address(address, &local, &domain)) {
    return fail(Code::kInvalidArgument, "BATV: not a qualified address (local@domain)");
  }
  if (key < 0 || key > 9) return fail(Code::kInvalidArgument, "BATV key number must be 0-9");
  if (ddd < 0 || ddd > 999) return fail(Code::kInvalidArgument, "BATV day stamp must be 0-999");
  if (secret.size() > kMaxSecretBytes) {
    return fail(Code::kInvalidArgument, "BATV secret longer than 64 bytes");
  }
  std::string out = "prvs=";
  out.push_back(static_cast<char>('0' + key));
  out.push_back(static_cast<char>('0' + ddd / 100));
  out.push_back(static_cast<char>('0' + ddd / 10 % 10));
  out.push_back(static_cast<char>('0' + ddd % 10));
  out += hash6(secret, key, ddd, address);
  out.push_back('=');
  out.append(address);
  return out;
}

Verification verify(const KeyRing& keys, std::string_view address, std::int64_t today,
                    const VerifyOptions& options) {
  const Parsed p = parse(address);
  Verification v;
  v.key = p.key;
  switch (p.form) {
    case Form::kNone:
      v.verdict = Verdict::kNotTagged;
      v.address = std::string(address);
      return v;
    case Form::kMalformed:
      v.verdict = Verdict::kMalformed;
      v.address = std::string(address.substr(0, kMaxAddressBytes));
      return v;
    case Form::kForeign:
      v.verdict = Verdict::kForeignForm;
      v.address = std::string(p.local) + "@" + std::string(p.domain);
      return v;
    case Form::kPrvs:
      break;
  }
  // The untagged address is the input's suffix after the tag.
  const std::string_view original = address.substr(kPrvsPrefixBytes);
  v.address = std::string(original);
  const std::string* secret = keys.find(p.key);
  if (!secret) {
    v.verdict = Verdict::kUnknownKey;
    return v;
  }
  const std::string expected = hash6(*secret, p.key, p.ddd, original);
  char received[6];
  for (std::size_t i = 0; i < 6; ++i) received[i] = text::ascii_lower(p.hash[i]);
  if (CRYPTO_memcmp(expected.data(), received, sizeof received) != 0) {
    v.verdict = Verdict::kBadHash;
    return v;
  }
  const int now = static_cast<int>(((today % 1000) + 1000) % 1000);
  const int ahead = (p.ddd - now + 1000) % 1000;  // days until expiry, mod 1000
  const bool in_lifetime = ahead <= options.lifetime;
  const bool in_grace = options.grace_days > 0 && ahead >= 1000 - options.grace_days;
  v.verdict = in_lifetime || in_grace ? Verdict::kValid : Verdict::kExpired;
  return v;
}

SignResult sign(const KeyRing& keys, const SignerConfig& config, std::string_view address,
                std::int64_t today) {
  BACKSTOP_INVARIANT(config.lifetime >= 0 && config.lifetime <= kMaxLifetimeDays);
  SignResult r{SignStatus::kMalformed, std::string(address.substr(0, kMaxAddressBytes))};
  if (address.empty()) {
    r.status = SignStatus::kNullSender;
    return r;
  }
  std::string_view local, domain;
  if (address.size() > kMaxAddressBytes || !split_address(address, &local, &domain)) return r;
  if (looks_tagged(address)) {
    r.status = SignStatus::kAlreadyTagged;
    return r;
  }
  if (!config.domains.empty() &&
      std::none_of(config.domains.begin(), config.domains.end(),
                   [&](const std::string& d) { return text::iequals(d, domain); })) {
    r.status = SignStatus::kForeignDomain;
    return r;
  }
  if (address.size() + kPrvsPrefixBytes > kMaxAddressBytes) {
    r.status = SignStatus::kTooLong;
    return r;
  }
  const auto key = keys.signing_key();
  if (!key) {
    r.status = SignStatus::kNoKey;
    return r;
  }
  auto tagged = sign_raw(*keys.find(*key), *key, expiry_stamp(today, config.lifetime), address);
  BACKSTOP_INVARIANT(tagged.has_value());  // every precondition was checked above
  r.status = SignStatus::kSigned;
  r.address = std::move(*tagged);
  return r;
}

}  // namespace backstop::batv
