// Compact binary encoding of stored values (ours, not a general format).
// Every value starts with a version byte (kFormatVersion); integers are LEB128
// varints (signed ones zig-zag), strings are a varint length then the bytes.
// Decoding takes untrusted bytes (a damaged or foreign file): it is bounded by
// the limits in store.h and returns kMalformed on any damage, never reads past
// the input. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace backstop::store::codec {

inline constexpr std::uint8_t kFormatVersion = 1;

// The ENVID is written after the recipients only when non-empty, so values
// without it (older ones) decode with none.
std::string encode_ledger(const LedgerEntry& e);
Result<LedgerEntry> decode_ledger(std::string_view bytes);

// A counter: value and absolute expiry.
struct Counter {
  std::int64_t value = 0;
  std::int64_t expires_at = 0;
};
std::string encode_counter(const Counter& c);
Result<Counter> decode_counter(std::string_view bytes);

// A record (or a correspondent's last-seen time with an empty value): expiry + bytes.
struct Record {
  std::int64_t expires_at = 0;
  std::string value;
};
std::string encode_record(std::int64_t expires_at, std::string_view value);
Result<Record> decode_record(std::string_view bytes);

// A listing; self_delists is written only when non-zero, so values without
// it (older ones) decode with 0.
std::string encode_listing(const Listing& l);
Result<Listing> decode_listing(std::string_view bytes);

// The value of a RecordAppend record: a varint count, then each item as a
// varint length and its bytes. decode_items is bounded by kMaxRecordBytes.
std::string encode_items(const std::vector<std::string>& items);
Result<std::vector<std::string>> decode_items(std::string_view bytes);

// Big-endian 8-byte time prefix for time-ordered keys (ledger index).
std::string time_key(std::int64_t time, std::string_view suffix);
// Inverse of time_key; false if `key` is shorter than 8 bytes.
bool split_time_key(std::string_view key, std::int64_t* time, std::string_view* suffix);

}  // namespace backstop::store::codec
