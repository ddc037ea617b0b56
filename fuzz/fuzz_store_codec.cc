// The store's record codec (store/codec.h) on arbitrary bytes, as if read
// from a damaged or foreign state file: every decoder either refuses the
// bytes (kMalformed) or returns a value within the store's limits
// (store/store.h) whose encoding decodes to the same value, is canonical
// (encoding that again gives the same bytes) and is never longer than the
// input (RecordAppend item lists too). time_key/split_time_key round-trip
// exactly.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "store/codec.h"

namespace {

using namespace backstop;
using namespace backstop::store;

template <class R>
void check_refusal(const R& r) {
  if (!r && r.error().code() != Code::kMalformed) std::abort();
}

void check_encoding(std::string_view in, const std::string& enc, const std::string& again) {
  if (enc != again || enc.size() > in.size()) std::abort();
}

void ledger(std::string_view in) {
  auto d = codec::decode_ledger(in);
  check_refusal(d);
  if (!d) return;
  if (d->sender.size() > kMaxAddressBytes || d->recipients.size() > kMaxLedgerRecipients) std::abort();
  for (const auto& r : d->recipients) {
    if (r.size() > kMaxAddressBytes) std::abort();
  }
  if (d->envid.size() > kMaxEnvidBytes || d->envid.find('\0') != std::string::npos) std::abort();
  const std::string enc = codec::encode_ledger(*d);
  auto back = codec::decode_ledger(enc);
  if (!back || !(*back == *d)) std::abort();
  check_encoding(in, enc, codec::encode_ledger(*back));
}

void counter(std::string_view in) {
  auto d = codec::decode_counter(in);
  check_refusal(d);
  if (!d) return;
  const std::string enc = codec::encode_counter(*d);
  auto back = codec::decode_counter(enc);
  if (!back || back->value != d->value || back->expires_at != d->expires_at) std::abort();
  check_encoding(in, enc, codec::encode_counter(*back));
}

void record(std::string_view in) {
  auto d = codec::decode_record(in);
  check_refusal(d);
  if (!d) return;
  if (d->value.size() > kMaxRecordBytes) std::abort();
  const std::string enc = codec::encode_record(d->expires_at, d->value);
  auto back = codec::decode_record(enc);
  if (!back || back->expires_at != d->expires_at || back->value != d->value) std::abort();
  check_encoding(in, enc, codec::encode_record(back->expires_at, back->value));
}

void listing(std::string_view in) {
  auto d = codec::decode_listing(in);
  check_refusal(d);
  if (!d) return;
  if (d->hits.size() > kMaxKindsPerListing || d->last_evidence.kind.size() > kMaxKindBytes ||
      d->last_evidence.message_id.size() > kMaxMessageIdBytes) {
    std::abort();
  }
  for (const auto& [kind, n] : d->hits) {
    if (kind.size() > kMaxKindBytes) std::abort();
  }
  const std::string enc = codec::encode_listing(*d);
  auto back = codec::decode_listing(enc);
  if (!back || !(*back == *d)) std::abort();
  check_encoding(in, enc, codec::encode_listing(*back));
}

void items(std::string_view in) {
  auto d = codec::decode_items(in);
  check_refusal(d);
  if (!d) return;
  std::size_t total = 0;
  for (const auto& i : *d) total += i.size();
  if (total > in.size()) std::abort();
  const std::string enc = codec::encode_items(*d);
  auto back = codec::decode_items(enc);
  if (!back || *back != *d) std::abort();
  check_encoding(in, enc, codec::encode_items(*back));
}

void time_key(std::string_view in) {
  std::int64_t t = 0;
  std::string_view suffix;
  if (!codec::split_time_key(in, &t, &suffix)) {
    if (in.size() >= 8) std::abort();
    return;
  }
  if (codec::time_key(t, suffix) != in) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  ledger(in);
  counter(in);
  record(in);
  listing(in);
  items(in);
  time_key(in);
  return 0;
}
