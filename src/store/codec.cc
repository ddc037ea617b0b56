#include "store/codec.h"

#include <cstddef>

namespace backstop::store::codec {
namespace {

// A varint of a 64-bit value needs at most 10 bytes.
constexpr std::size_t kMaxVarintBytes = 10;

class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void uv(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void sv(std::int64_t v) {
    uv((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void str(std::string_view s) {
    uv(s.size());
    out_.append(s);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u8(std::uint8_t* v) {
    if (pos_ >= in_.size()) return false;
    *v = static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }
  bool uv(std::uint64_t* v) {
    std::uint64_t r = 0;
    for (std::size_t i = 0; i < kMaxVarintBytes; ++i) {
      std::uint8_t b = 0;
      if (!u8(&b)) return false;
      if (i == kMaxVarintBytes - 1 && b > 1) return false;  // overflows 64 bits
      r |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  bool sv(std::int64_t* v) {
    std::uint64_t u = 0;
    if (!uv(&u)) return false;
    *v = static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }
  bool str(std::string* s, std::size_t max) {
    std::uint64_t n = 0;
    if (!uv(&n) || n > max || n > in_.size() - pos_) return false;
    s->assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool version() {
    std::uint8_t v = 0;
    return u8(&v) && v == kFormatVersion;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

unexpected<Error> damaged(std::string_view what) {
  return fail(Code::kMalformed, "damaged stored " + std::string(what));
}

}  // namespace

std::string encode_ledger(const LedgerEntry& e) {
  Writer w;
  w.u8(kFormatVersion);
  w.sv(e.time);
  w.str(e.sender);
  w.uv(e.recipients.size());
  for (const auto& r : e.recipients) w.str(r);
  if (!e.envid.empty()) w.str(e.envid);
  return w.take();
}

Result<LedgerEntry> decode_ledger(std::string_view bytes) {
  Reader r(bytes);
  LedgerEntry e;
  std::uint64_t n = 0;
  if (!r.version() || !r.sv(&e.time) || !r.str(&e.sender, kMaxAddressBytes) || !r.uv(&n) ||
      n > kMaxLedgerRecipients) {
    return damaged("ledger entry");
  }
  e.recipients.resize(n);
  for (auto& rcpt : e.recipients) {
    if (!r.str(&rcpt, kMaxAddressBytes)) return damaged("ledger entry");
  }
  if (!r.done() && (!r.str(&e.envid, kMaxEnvidBytes) || e.envid.empty() ||
                    e.envid.find('\0') != std::string::npos)) {
    return damaged("ledger entry");
  }
  if (!r.done()) return damaged("ledger entry");
  return e;
}

std::string encode_counter(const Counter& c) {
  Writer w;
  w.u8(kFormatVersion);
  w.sv(c.value);
  w.sv(c.expires_at);
  return w.take();
}

Result<Counter> decode_counter(std::string_view bytes) {
  Reader r(bytes);
  Counter c;
  if (!r.version() || !r.sv(&c.value) || !r.sv(&c.expires_at) || !r.done()) {
    return damaged("counter");
  }
  return c;
}

std::string encode_record(std::int64_t expires_at, std::string_view value) {
  Writer w;
  w.u8(kFormatVersion);
  w.sv(expires_at);
  w.str(value);
  return w.take();
}

Result<Record> decode_record(std::string_view bytes) {
  Reader r(bytes);
  Record rec;
  if (!r.version() || !r.sv(&rec.expires_at) || !r.str(&rec.value, kMaxRecordBytes) ||
      !r.done()) {
    return damaged("record");
  }
  return rec;
}

std::string encode_listing(const Listing& l) {
  Writer w;
  w.u8(kFormatVersion);
  w.str(l.ip);
  w.uv(l.hits.size());
  for (const auto& [kind, n] : l.hits) {
    w.str(kind);
    w.uv(n);
  }
  w.sv(l.first_seen);
  w.sv(l.last_seen);
  w.str(l.last_evidence.kind);
  w.str(l.last_evidence.message_id);
  w.sv(l.last_evidence.time);
  w.u8(l.listed ? 1 : 0);
  if (l.self_delists != 0) w.uv(l.self_delists);
  return w.take();
}

Result<Listing> decode_listing(std::string_view bytes) {
  // INET6_ADDRSTRLEN is 46.
  constexpr std::size_t kMaxIpText = 64;
  Reader r(bytes);
  Listing l;
  std::uint64_t kinds = 0;
  if (!r.version() || !r.str(&l.ip, kMaxIpText) || !r.uv(&kinds) ||
      kinds > kMaxKindsPerListing) {
    return damaged("listing");
  }
  for (std::uint64_t i = 0; i < kinds; ++i) {
    std::string kind;
    std::uint64_t n = 0;
    if (!r.str(&kind, kMaxKindBytes) || !r.uv(&n)) return damaged("listing");
    l.hits[kind] = n;
  }
  std::uint8_t listed = 0;
  if (!r.sv(&l.first_seen) || !r.sv(&l.last_seen) ||
      !r.str(&l.last_evidence.kind, kMaxKindBytes) ||
      !r.str(&l.last_evidence.message_id, kMaxMessageIdBytes) ||
      !r.sv(&l.last_evidence.time) || !r.u8(&listed) || listed > 1) {
    return damaged("listing");
  }
  if (!r.done()) {
    std::uint64_t n = 0;
    if (!r.uv(&n) || n == 0 || n > UINT32_MAX || !r.done()) return damaged("listing");
    l.self_delists = static_cast<std::uint32_t>(n);
  }
  l.listed = listed == 1;
  return l;
}

std::string encode_items(const std::vector<std::string>& items) {
  Writer w;
  w.uv(items.size());
  for (const auto& i : items) w.str(i);
  return w.take();
}

Result<std::vector<std::string>> decode_items(std::string_view bytes) {
  Reader r(bytes);
  std::uint64_t n = 0;
  // Each item takes at least one byte (its length).
  if (!r.uv(&n) || n > bytes.size()) return damaged("record items");
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string item;
    if (!r.str(&item, kMaxRecordBytes)) return damaged("record items");
    out.push_back(std::move(item));
  }
  if (!r.done()) return damaged("record items");
  return out;
}

std::string time_key(std::int64_t time, std::string_view suffix) {
  std::string k(8, '\0');
  // Offset so negative times still sort before positive ones.
  auto u = static_cast<std::uint64_t>(time) ^ (std::uint64_t{1} << 63);
  for (int i = 7; i >= 0; --i) {
    k[static_cast<std::size_t>(i)] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
  k.append(suffix);
  return k;
}

bool split_time_key(std::string_view key, std::int64_t* time, std::string_view* suffix) {
  if (key.size() < 8) return false;
  std::uint64_t u = 0;
  for (std::size_t i = 0; i < 8; ++i) u = (u << 8) | static_cast<std::uint8_t>(key[i]);
  *time = static_cast<std::int64_t>(u ^ (std::uint64_t{1} << 63));
  *suffix = key.substr(8);
  return true;
}

}  // namespace backstop::store::codec
