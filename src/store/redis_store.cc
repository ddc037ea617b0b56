// Redis Store. Key layout (P = the prefix; docs/store.md has types and sizes):
//   P v            layout version ("1"), set at the first open
//   P l:<id>       ledger entry (codec), PX = ledger TTL + grace
//   P lt           ledger index: zset id -> time sent
//   P lf           zset {"t" -> time of the first entry ever}, kept with ZADD LT
//   P k:<value>    ledger secondary index: zset id -> time sent, for the
//                  value 'r' + recipient (lower case) or 'e' + ENVID; expires
//                  with its newest entry; members may outlive a replaced
//                  entry (ledger_find() checks each against its entry)
//   P kb           "1" once the index holds every entry (built at open)
//   P cx           correspondents: zset "local NUL external" -> last seen (ZADD GT)
//   P cl:<local>   one user's correspondents: zset, score 0, in address order
//   P n:<key>      counter: "<value> <expires_at>" in decimal, PX = window + grace
//   P r:<key>      record (codec: expiry + bytes), PX = expiry + grace
//   P d:<ip>       listing (codec)
//   P di           listing index: zset, score 0, in address order
//   P da           allowlist: zset of CIDR texts, score 0
// Writes of several keys are one MULTI/EXEC (blind writes; ZADD GT/LT keep
// the max/min without reading) or one Lua script (counters, purge); writes
// that depend on what they read (records_update, listing hits) WATCH their
// keys and retry on conflict until the timeout.
#include "store/redis_store.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <unordered_set>

#include "common/ip.h"
#include "store/codec.h"
#include "store/internal.h"
#include "store/redis_client.h"

namespace backstop::store {
namespace {

using namespace internal;
using redis::Command;
using redis::Connection;
using redis::Health;
using redis::Reply;
using SteadyClock = std::chrono::steady_clock;

// The layout written under a prefix; a store refuses a prefix holding another.
constexpr std::string_view kLayoutVersion = "1";
// Items per read round trip (ledger_recent, correspondents, listings, the
// allowlist): one page of typical items is tens of KiB, served by Redis in
// well under a millisecond, so no call holds the server long.
constexpr std::size_t kReadPage = 256;
// Items a purge script deletes per call: a script blocks Redis while it
// runs, and a thousand deletions take about a millisecond.
constexpr std::size_t kPurgeChunk = 1000;
// Keys SCAN looks at per round trip when purging counters and records.
constexpr std::size_t kPurgeScan = 1000;
// Keys (and correspondents) export_all() asks SCAN for per round trip: a
// page of values is at most ~1 MiB at typical sizes (~200 bytes each).
constexpr std::size_t kExportScan = 1000;
// SCAN answers about COUNT keys; a reply far beyond is not from a sane server.
constexpr std::size_t kMaxScanKeys = 64 * kPurgeScan;
// A SCAN cursor is an unsigned 64-bit number in decimal.
constexpr std::size_t kMaxCursorBytes = 20;
// A script's SHA-1 in hex.
constexpr std::size_t kShaHexBytes = 40;
// Largest values the codec writes at the store's limits (a varint takes at
// most 10 bytes): replies beyond are damaged, not read.
constexpr std::size_t kVarint = 10;
constexpr std::size_t kMaxLedgerValue = 1 + kVarint + (kVarint + kMaxAddressBytes) + kVarint +
                                        kMaxLedgerRecipients * (kVarint + kMaxAddressBytes) + kVarint +
                                        kMaxEnvidBytes;
// Index members one ledger_find() looks at (newest first): each is checked
// against its entry, and stale members are rare (a replaced entry).
constexpr std::size_t kMaxIndexScan = 4 * kMaxLedgerFind;
constexpr std::size_t kMaxRecordValue = 1 + kVarint + kVarint + kMaxRecordBytes;
constexpr std::size_t kMaxListingValue = 4096;  // ~1.7 KiB at the limits (16 kinds, a 400-byte Message-ID)
// "<value> <expires_at>", each at most 17 characters.
constexpr std::size_t kMaxCounterValue = 40;
// Texts of a canonical IP (INET6_ADDRSTRLEN) and of a CIDR with its prefix length.
constexpr std::size_t kMaxIpText = 64;
constexpr std::size_t kMaxCidrText = kMaxIpText + 4;
// Expiries further away than this are not given to Redis (the key stays
// until purged or rewritten): PX must stay within Redis's range.
constexpr std::int64_t kMaxRedisTtl = 100 * 365 * kDay;
// Pause between attempts of a write whose WATCHed keys changed: random, up
// to this bound, so contenders spread out instead of colliding again.
constexpr std::chrono::microseconds kMaxConflictPause{5000};

// ---- Lua scripts. Keys and numbers come as arguments; `now` is the
// store's clock (tests use a manual one), never Redis's.

// KEYS[1] counter; ARGV delta, expires_at, now, grace, max_ttl, check (0|1), limit.
// A counter that is absent, expired, damaged or of a foreign type starts a
// new window (as in LMDB). Returns the new value, or 1/0 with check.
constexpr std::string_view kCounterScript = R"lua(
local MAX = 9007199254740991
local delta, x, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local v, live = 0, false
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'string' and #cur <= 40 then
  local a, b = string.match(cur, '^(%-?%d+) (%-?%d+)$')
  if a and #a <= 17 and #b <= 17 then
    local av, bv = tonumber(a), tonumber(b)
    if math.abs(av) <= MAX and math.abs(bv) <= MAX and (bv == 0 or bv > now) then
      v, x, live = av, bv, true
    end
  end
end
if ARGV[6] == '1' and v + delta > tonumber(ARGV[7]) then return 0 end
local nv = v + delta
if math.abs(nv) > MAX then return redis.error_reply('BSRANGE counter beyond 2^53') end
local text = string.format('%d %d', nv, x)
if live then
  redis.call('SET', KEYS[1], text, 'KEEPTTL')
else
  redis.call('SET', KEYS[1], text)
  local left = x - now
  if x ~= 0 and left < tonumber(ARGV[5]) then
    if left < 0 then left = 0 end
    redis.call('PEXPIRE', KEYS[1], string.format('%d', (left + tonumber(ARGV[4])) * 1000))
  end
end
if ARGV[6] == '1' then return 1 end
return nv
)lua";

// ARGV prefix, cutoff, chunk: deletes up to `chunk` ledger entries sent at
// or before `cutoff`, oldest first; returns how many.
constexpr std::string_view kPurgeLedgerScript = R"lua(
local p = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', p .. 'lt', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #ids do redis.call('DEL', p .. 'l:' .. ids[i]) end
if #ids > 0 then redis.call('ZREM', p .. 'lt', unpack(ids)) end
return #ids
)lua";

// ARGV prefix, cutoff, chunk: deletes up to `chunk` correspondents last
// seen at or before `cutoff`; returns how many.
constexpr std::string_view kPurgeCorrespondentsScript = R"lua(
local p = ARGV[1]
local ms = redis.call('ZRANGEBYSCORE', p .. 'cx', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #ms do
  local z = string.find(ms[i], '\0', 1, true)
  if z then redis.call('ZREM', p .. 'cl:' .. string.sub(ms[i], 1, z - 1), string.sub(ms[i], z + 1)) end
end
if #ms > 0 then redis.call('ZREM', p .. 'cx', unpack(ms)) end
return #ms
)lua";

// KEYS counters; ARGV now: deletes the expired, damaged and foreign ones.
constexpr std::string_view kPurgeCountersScript = R"lua(
local now, n = tonumber(ARGV[1]), 0
for i = 1, #KEYS do
  local cur = redis.pcall('GET', KEYS[i])
  local gone = cur ~= false
  if type(cur) == 'string' then
    local a, b = string.match(cur, '^(%-?%d+) (%-?%d+)$')
    if a and #a <= 17 and #b <= 17 then
      local bv = tonumber(b)
      gone = bv ~= 0 and bv <= now
    end
  end
  if gone then redis.call('DEL', KEYS[i]); n = n + 1 end
end
return n
)lua";

// KEYS records; ARGV now: deletes the expired, damaged and foreign ones.
// A record is the codec's: version byte 1, then the expiry as a zig-zag
// LEB128 varint.
constexpr std::string_view kPurgeRecordsScript = R"lua(
local function expiry(v)
  if #v < 2 or string.byte(v, 1) ~= 1 then return nil end
  local u, mul = 0, 1
  for i = 2, math.min(#v, 11) do
    local b = string.byte(v, i)
    u = u + (b % 128) * mul
    if b < 128 then
      if u % 2 == 0 then return u / 2 end
      return -(u + 1) / 2
    end
    mul = mul * 128
  end
  return nil
end
local now, n = tonumber(ARGV[1]), 0
for i = 1, #KEYS do
  local cur = redis.pcall('GET', KEYS[i])
  local gone = cur ~= false
  if type(cur) == 'string' then
    local e = expiry(cur)
    gone = e == nil or (e ~= 0 and e <= now)
  end
  if gone then redis.call('DEL', KEYS[i]); n = n + 1 end
end
return n
)lua";

// Sliding windows (WindowCounter). KEYS: n window keys, then their n alert
// keys. ARGV: now, grace, cap, then 7 per window: kind ('c' | 'd'), seconds,
// step, limit, amount, member (16 hex digits), enforcing ('1' | '0').
// A count window is a hash step -> events; a distinct window a hash
// member -> last step seen, holding at most `cap` members. Steps outside the
// window (and fields that do not parse) are deleted when the event is
// counted; a key of a foreign type reads as empty and is replaced. An alert
// key holds the time its mark ends. Returns count, exceeded, first per window.
constexpr std::string_view kWindowsScript = R"lua(
local now, grace, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = #KEYS / 2
local out, plan, refused = {}, {}, false
for i = 1, n do
  local b = 3 + (i - 1) * 7
  local kind, secs, step, limit = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local amount, member, enforcing = tonumber(ARGV[b + 5]), ARGV[b + 6], ARGV[b + 7] == '1'
  local cur = math.floor(now / step)
  local oldest = cur - math.floor((secs + step - 1) / step)
  local h = redis.pcall('HGETALL', KEYS[i])
  local foreign = type(h) ~= 'table' or h.err ~= nil
  if foreign then h = {} end
  local stale, count, new = {}, 0, true
  if kind == 'c' then
    for j = 1, #h, 2 do
      local s, v = tonumber(h[j]), tonumber(h[j + 1])
      if s and v and v >= 0 and v == math.floor(v) and s >= oldest and s <= cur then count = count + v else stale[#stale + 1] = h[j] end
    end
    count = count + amount
  else
    for j = 1, #h, 2 do
      local s = tonumber(h[j + 1])
      if s and s >= oldest and s <= cur and #h[j] == 16 then
        count = count + 1
        if h[j] == member then new = false end
      else
        stale[#stale + 1] = h[j]
      end
    end
    if new then count = count + 1 end
  end
  local exceeded = new and count > limit
  if exceeded and enforcing then refused = true end
  plan[i] = {kind = kind, secs = secs, step = step, cur = cur, amount = amount, member = member,
             new = new, live = count, stale = stale, foreign = foreign, exceeded = exceeded}
  out[3 * i - 2], out[3 * i - 1], out[3 * i] = count, exceeded and 1 or 0, 0
end
for i = 1, n do
  local p, k = plan[i], KEYS[i]
  if not refused then
    if p.foreign then redis.call('DEL', k) end
    for j = 1, #p.stale, 500 do
      redis.call('HDEL', k, unpack(p.stale, j, math.min(j + 499, #p.stale)))
    end
    local field = string.format('%d', p.cur)
    if p.kind == 'c' then
      if p.amount > 0 then redis.call('HINCRBY', k, field, string.format('%d', p.amount)) end
    elseif not p.new or p.live <= cap then
      redis.call('HSET', k, p.member, field)
    end
    redis.call('PEXPIRE', k, string.format('%d', (p.secs + p.step + grace) * 1000))
  end
  if p.exceeded then
    local ak = KEYS[n + i]
    local v = redis.pcall('GET', ak)
    local until_ = type(v) == 'string' and tonumber(v) or nil
    if not until_ or until_ <= now then
      out[3 * i] = 1
      redis.call('SET', ak, string.format('%d', now + p.secs), 'PX', string.format('%d', (p.secs + grace) * 1000))
    end
  end
end
return out
)lua";

struct Script {
  std::string_view text;
  std::string sha;  // from SCRIPT LOAD at open
};

unexpected<Error> unavailable(std::string msg) { return fail(Code::kUnavailable, std::move(msg)); }

std::string num(std::int64_t v) { return std::to_string(v); }

// SCAN MATCH is a glob: the prefix's glob characters are escaped.
std::string glob_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  return out;
}

bool is_hex_sha(std::string_view s) {
  return s.size() == kShaHexBytes && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

void conflict_pause(int attempt) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  const auto cap = std::min<std::int64_t>(kMaxConflictPause.count(), std::int64_t{50} << std::min(attempt, 10));
  std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<std::int64_t>(0, cap)(rng)));
}

bool expired_at(std::int64_t expires_at, std::int64_t now) { return expires_at != 0 && expires_at <= now; }

Status check_exact(std::int64_t v, std::string_view what) {
  if (v > kRedisMaxExactInt || v < -kRedisMaxExactInt) {
    return fail(Code::kInvalidArgument, std::string(what) + " beyond the Redis backend's exact range (2^53)");
  }
  return {};
}

// Decodes a counter "<value> <expires_at>".
Result<codec::Counter> parse_counter(std::string_view text) {
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return fail(Code::kMalformed, "damaged stored counter");
  auto v = redis::parse_exact_int(text.substr(0, space), "counter");
  auto x = redis::parse_exact_int(text.substr(space + 1), "counter");
  if (!v || !x) return fail(Code::kMalformed, "damaged stored counter");
  return codec::Counter{*v, *x};
}

class RedisStore final : public Store, public WindowCounter, public redis::BatchReads {
 public:
  RedisStore(Options o, std::string prefix, redis::PoolOptions po)
      : opt_(o), clock_(clock_of(o)), p_(std::move(prefix)), pool_(std::move(po)) {
    scripts_[kCounter].text = kCounterScript;
    scripts_[kPurgeLedger].text = kPurgeLedgerScript;
    scripts_[kPurgeCorrespondents].text = kPurgeCorrespondentsScript;
    scripts_[kPurgeCounters].text = kPurgeCountersScript;
    scripts_[kPurgeRecords].text = kPurgeRecordsScript;
    scripts_[kWindows].text = kWindowsScript;
  }

  // Checks the layout version (writing it under a fresh prefix) and loads
  // the scripts.
  Status open() {
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    std::vector<Command> cmds{{"SET", key("v"), std::string(kLayoutVersion), "NX"}, {"GET", key("v")}};
    for (const auto& s : scripts_) cmds.push_back({"SCRIPT", "LOAD", std::string(s.text)});
    auto r = (*lease)->run(cmds);
    BACKSTOP_TRY(r);
    BACKSTOP_TRY(redis::check_reply((*r)[0].get()));
    auto layout = redis::string_of((*r)[1].get(), kMaxCounterValue, "layout version");
    BACKSTOP_TRY(layout);
    if (*layout != kLayoutVersion) {
      return fail(Code::kEnvironment, "redis prefix '" + p_ + "' holds data layout '" + redis::printable(*layout) +
                                          "'; this backstop reads layout " + std::string(kLayoutVersion));
    }
    for (std::size_t i = 0; i < scripts_.size(); ++i) {
      auto sha = redis::string_of((*r)[2 + i].get(), kShaHexBytes, "SCRIPT LOAD");
      if (!sha) return unavailable("redis: cannot load scripts: " + sha.error().message());
      if (!is_hex_sha(*sha)) return fail(Code::kMalformed, "redis: SCRIPT LOAD answered no SHA-1");
      scripts_[i].sha = std::move(*sha);
    }
    return build_index(**lease);
  }

  // The index commands of entry `id` (added to `tx`): each value's zset
  // gets the member, loses members past the ledger TTL, and expires with
  // its newest entry (NX sets a fresh key's expiry, GT only lengthens it).
  void index_cmds(std::string_view id, const LedgerEntry& e, std::vector<Command>* tx) const {
    const auto ms = px(e.time + opt_.ledger_ttl);
    for (const auto& value : ledger_index_values(e)) {
      const std::string k = key("k:", value);
      tx->push_back({"ZADD", k, num(e.time), std::string(id)});
      tx->push_back({"ZREMRANGEBYSCORE", k, "-inf", num(now() - opt_.ledger_ttl)});
      if (ms) {
        tx->push_back({"PEXPIRE", k, num(*ms), "NX"});
        tx->push_back({"PEXPIRE", k, num(*ms), "GT"});
      }
    }
  }

  // Builds the index from every entry of the ledger's time index, once (a
  // prefix written before the index existed). Idempotent: several hosts
  // opening an old prefix at once each add the same members.
  Status build_index(Connection& c) {
    auto built = c.run1({"EXISTS", key("kb")});
    BACKSTOP_TRY(built);
    auto n = redis::integer_of(built->get(), "EXISTS");
    BACKSTOP_TRY(n);
    if (*n == 1) return {};
    for (std::int64_t offset = 0;; offset += static_cast<std::int64_t>(kReadPage)) {
      auto r = c.run1({"ZRANGE", key("lt"), num(offset), num(offset + static_cast<std::int64_t>(kReadPage) - 1)});
      BACKSTOP_TRY(r);
      auto ids = redis::array_of(r->get(), kReadPage, "ledger index");
      BACKSTOP_TRY(ids);
      if (ids->empty()) break;
      Command mget{"MGET"};
      std::vector<std::string> names;
      for (const redisReply* m : *ids) {
        auto id = redis::string_of(m, kMaxMessageIdBytes, "ledger index member");
        BACKSTOP_TRY(id);
        names.push_back(*id);
        mget.push_back(key("l:", *id));
      }
      auto values = c.run1(mget);
      BACKSTOP_TRY(values);
      auto arr = redis::array_of(values->get(), names.size(), "ledger entries");
      BACKSTOP_TRY(arr);
      std::vector<Command> tx;
      for (std::size_t i = 0; i < arr->size() && i < names.size(); ++i) {
        auto bytes = redis::string_or_nil((*arr)[i], kMaxLedgerValue, "ledger entry");
        if (!bytes || !*bytes) continue;
        auto e = codec::decode_ledger(**bytes);
        if (e && !ledger_expired(e->time)) index_cmds(names[i], *e, &tx);
      }
      if (!tx.empty()) {
        auto w = c.run(tx);
        BACKSTOP_TRY(w);
        for (const auto& x : *w) BACKSTOP_TRY(redis::check_reply(x.get()));
      }
      if (ids->size() < kReadPage) break;
    }
    auto done = c.run1({"SET", key("kb"), "1"});
    BACKSTOP_TRY(done);
    return redis::check_reply(done->get());
  }

  // Entries of `ids` (index members, newest first) that answer `q`, at most
  // kMaxLedgerFind, from the MGET reply `values`.
  Result<std::vector<LedgerItem>> found_of(const LedgerFind& q, const std::vector<std::string>& ids,
                                           const redisReply* values) {
    std::vector<LedgerItem> out;
    auto arr = redis::array_of(values, ids.size(), "ledger entries");
    BACKSTOP_TRY(arr);
    if (arr->size() != ids.size()) return fail(Code::kMalformed, "redis: MGET answered the wrong count");
    for (std::size_t i = 0; i < ids.size() && out.size() < kMaxLedgerFind; ++i) {
      auto e = ledger_of((*arr)[i]);
      BACKSTOP_TRY(e);
      if (*e && ledger_answers(**e, q)) out.push_back({ids[i], std::move(**e)});
    }
    return out;
  }
  // The members an index range reply names.
  static Result<std::vector<std::string>> members_of(const redisReply* r) {
    std::vector<std::string> out;
    auto arr = redis::array_of(r, kMaxIndexScan, "ledger key index");
    BACKSTOP_TRY(arr);
    for (const redisReply* m : *arr) {
      auto id = redis::string_of(m, kMaxMessageIdBytes, "ledger key index member");
      BACKSTOP_TRY(id);
      out.push_back(std::move(*id));
    }
    return out;
  }
  Command find_cmd(const LedgerFind& q) const {
    const std::int64_t live = now() - opt_.ledger_ttl + 1;  // live: time + ttl > now
    return {"ZREVRANGEBYSCORE", key("k:", ledger_index_value(q)), num(q.to), num(std::max(q.from, live)), "LIMIT",
            "0", num(static_cast<std::int64_t>(kMaxIndexScan))};
  }
  // Index ranges of `qs` in one round trip, their entries in a second.
  Result<std::vector<std::vector<LedgerItem>>> finds(Connection& c, const std::vector<LedgerFind>& qs) {
    std::vector<Command> ranges;
    for (const auto& q : qs) ranges.push_back(find_cmd(q));
    if (ranges.empty()) return std::vector<std::vector<LedgerItem>>(qs.size());
    auto r = c.run(ranges);
    BACKSTOP_TRY(r);
    return finds_from(c, qs, *r);
  }
  // The entries of `qs` given the replies to their find_cmd()s, in order:
  // one more round trip, only when some range holds members.
  Result<std::vector<std::vector<LedgerItem>>> finds_from(Connection& c, const std::vector<LedgerFind>& qs,
                                                          std::span<const redis::Reply> ranges) {
    std::vector<std::vector<LedgerItem>> out(qs.size());
    std::vector<std::vector<std::string>> ids(qs.size());
    std::vector<Command> gets;
    for (std::size_t i = 0; i < qs.size(); ++i) {
      if (qs[i].from > qs[i].to) continue;
      auto m = members_of(ranges[i].get());
      BACKSTOP_TRY(m);
      ids[i] = std::move(*m);
      if (ids[i].empty()) continue;
      Command mget{"MGET"};
      for (const auto& id : ids[i]) mget.push_back(key("l:", id));
      gets.push_back(std::move(mget));
    }
    if (gets.empty()) return out;
    auto g = c.run(gets);
    BACKSTOP_TRY(g);
    std::size_t j = 0;
    for (std::size_t i = 0; i < qs.size(); ++i) {
      if (ids[i].empty()) continue;
      auto f = found_of(qs[i], ids[i], (*g)[j++].get());
      BACKSTOP_TRY(f);
      out[i] = std::move(*f);
    }
    return out;
  }

  // ---- sliding windows: one script per event ----
  WindowCounter* window_counter() override { return this; }
  Result<std::vector<WindowResult>> check_and_count(std::span<const WindowSpec> windows,
                                                    std::int64_t now) override {
    BACKSTOP_TRY(check_window_specs(windows, kRedisMaxExactInt));
    static constexpr char kHex[] = "0123456789abcdef";
    std::vector<std::string> keys, args{num(now), num(kRedisExpiryGrace), num(kMaxNativeDistinct)};
    keys.reserve(2 * windows.size());
    args.reserve(3 + 7 * windows.size());
    for (const auto& w : windows) keys.push_back(key("w:", w.key));
    for (const auto& w : windows) keys.push_back(key("w:", w.alert_key));
    for (const auto& w : windows) {
      std::string member(16, '0');
      for (int i = 0; i < 16; ++i) member[static_cast<std::size_t>(15 - i)] = kHex[(w.member >> (4 * i)) & 15];
      args.insert(args.end(), {w.kind == WindowSpec::Kind::kCount ? "c" : "d", num(w.seconds), num(w.step),
                               num(w.limit), num(w.amount), std::move(member), w.enforcing ? "1" : "0"});
    }
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto r = eval(**lease, kWindows, std::move(keys), std::move(args));
    BACKSTOP_TRY(r);
    BACKSTOP_TRY(redis::check_reply(r->get()));
    auto arr = redis::array_of(r->get(), 3 * windows.size(), "windows");
    BACKSTOP_TRY(arr);
    if (arr->size() != 3 * windows.size()) return fail(Code::kMalformed, "redis: the window script answered the wrong count");
    std::vector<WindowResult> out(windows.size());
    for (std::size_t i = 0; i < windows.size(); ++i) {
      auto count = redis::integer_of((*arr)[3 * i], "window count");
      auto exceeded = redis::integer_of((*arr)[3 * i + 1], "window flag");
      auto first = redis::integer_of((*arr)[3 * i + 2], "window flag");
      BACKSTOP_TRY(count);
      BACKSTOP_TRY(exceeded);
      BACKSTOP_TRY(first);
      if (*count < 0 || *count > kRedisMaxExactInt || (*exceeded != 0 && *exceeded != 1) || (*first != 0 && *first != 1)) {
        return fail(Code::kMalformed, "redis: the window script answered out of range");
      }
      out[i] = {*count, *exceeded == 1, *first == 1};
    }
    return out;
  }

  // ---- ledger ----
  Status ledger_put(std::string_view id, const LedgerEntry& e) override {
    BACKSTOP_TRY(check_message_id(id));
    BACKSTOP_TRY(check_ledger_entry(e));
    const WriteOp op = LedgerPut{std::string(id), e};
    return apply(std::span<const WriteOp>(&op, 1));
  }
  Result<std::optional<LedgerEntry>> ledger_get(std::string_view id) override {
    BACKSTOP_TRY(check_message_id(id));
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto r = (*lease)->run1({"GET", key("l:", id)});
    BACKSTOP_TRY(r);
    return ledger_of(r->get());
  }
  Result<std::vector<LedgerItem>> ledger_find(const LedgerFind& q) override {
    BACKSTOP_TRY(check_ledger_find(q));
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto f = finds(**lease, {q});
    BACKSTOP_TRY(f);
    return std::move(f->front());
  }
  // The answer to GET l:<id>.
  Result<std::optional<LedgerEntry>> ledger_of(const redisReply* r) {
    auto bytes = redis::string_or_nil(r, kMaxLedgerValue, "ledger entry");
    BACKSTOP_TRY(bytes);
    if (!*bytes) return std::optional<LedgerEntry>();
    auto e = codec::decode_ledger(**bytes);
    BACKSTOP_TRY(e);
    if (ledger_expired(e->time)) return std::optional<LedgerEntry>();
    return std::optional<LedgerEntry>(std::move(*e));
  }
  // ---- several reads: one pipeline ----
  Result<ReadBatchResult> read_batch(const ReadBatch& batch) override {
    BACKSTOP_TRY(check_read_batch(batch));
    redis::BatchRead st;
    std::vector<Command> cmds = first(batch);
    if (cmds.empty()) return st.out;
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto r = (*lease)->run(cmds);
    BACKSTOP_TRY(r);
    auto second = after_first(batch, st, *r);
    BACKSTOP_TRY(second);
    if (second->empty()) return std::move(st.out);
    auto g = (*lease)->run(*second);
    BACKSTOP_TRY(g);
    BACKSTOP_TRY(after_second(batch, st, *g));
    return std::move(st.out);
  }

  // ---- batch reads in steps (redis::BatchReads) ----
  // One pipeline: the ledger index ranges of the finds first, then the
  // batch's reads; the entries the ranges name take a second round trip,
  // only when a range holds members.
  std::vector<Command> first(const ReadBatch& batch) const override {
    std::vector<Command> cmds;
    cmds.reserve(batch.ledger_finds.size() + batch.ledger_ids.size() + batch.correspondents.size() + 1);
    for (const auto& q : batch.ledger_finds) cmds.push_back(find_cmd(q));
    for (const auto& id : batch.ledger_ids) cmds.push_back({"GET", key("l:", id)});
    if (batch.ledger_first_time) cmds.push_back({"ZSCORE", key("lf"), "t"});
    for (const auto& [local, external] : batch.correspondents) {
      cmds.push_back({"ZSCORE", key("cx"), correspondent_key(local, external)});
    }
    return cmds;
  }
  Result<std::vector<Command>> after_first(const ReadBatch& batch, redis::BatchRead& st,
                                           std::span<const redis::Reply> replies) override {
    std::vector<Command> gets;
    ReadBatchResult& out = st.out;
    if (replies.size() != batch.count()) return fail(Code::kInternal, "redis: a batch read lost replies");
    std::size_t i = batch.ledger_finds.size();
    st.find_ids.assign(batch.ledger_finds.size(), {});
    for (std::size_t q = 0; q < batch.ledger_finds.size(); ++q) {
      if (batch.ledger_finds[q].from > batch.ledger_finds[q].to) continue;
      auto m = members_of(replies[q].get());
      BACKSTOP_TRY(m);
      st.find_ids[q] = std::move(*m);
      if (st.find_ids[q].empty()) continue;
      Command mget{"MGET"};
      for (const auto& id : st.find_ids[q]) mget.push_back(key("l:", id));
      gets.push_back(std::move(mget));
    }
    out.finds.assign(batch.ledger_finds.size(), {});
    for (std::size_t n = 0; n < batch.ledger_ids.size(); ++n) {
      auto e = ledger_of(replies[i++].get());
      BACKSTOP_TRY(e);
      out.ledger.push_back(std::move(*e));
    }
    if (batch.ledger_first_time) {
      auto t = first_time_of(replies[i++].get());
      BACKSTOP_TRY(t);
      out.first_time = *t;
    }
    for (std::size_t n = 0; n < batch.correspondents.size(); ++n) {
      auto t = correspondent_of(replies[i++].get());
      BACKSTOP_TRY(t);
      out.correspondents.push_back(*t);
    }
    return gets;
  }
  Status after_second(const ReadBatch& batch, redis::BatchRead& st, std::span<const redis::Reply> replies) override {
    std::size_t j = 0;
    for (std::size_t q = 0; q < batch.ledger_finds.size() && q < st.find_ids.size(); ++q) {
      if (st.find_ids[q].empty()) continue;
      if (j >= replies.size()) return fail(Code::kInternal, "redis: a batch read lost replies");
      auto f = found_of(batch.ledger_finds[q], st.find_ids[q], replies[j++].get());
      BACKSTOP_TRY(f);
      st.out.finds[q] = std::move(*f);
    }
    return {};
  }
  Status check(const ReadBatch& batch) const override { return check_read_batch(batch); }
  redis::Pool& pool() override { return pool_; }
  RemoteObserver* observer() override { return pool_.options().observer; }
  Result<std::vector<LedgerItem>> ledger_recent(std::size_t limit) override {
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    const std::string min = "(" + num(now() - opt_.ledger_ttl);  // live: time + ttl > now
    std::vector<LedgerItem> out;
    std::size_t offset = 0;
    while (out.size() < limit) {
      const std::size_t n = std::min(kReadPage, limit - out.size());
      auto r = (*lease)->run1({"ZREVRANGEBYSCORE", key("lt"), "+inf", min, "LIMIT", num(static_cast<std::int64_t>(offset)),
                               num(static_cast<std::int64_t>(n))});
      BACKSTOP_TRY(r);
      auto ids = redis::array_of(r->get(), n, "ledger index");
      BACKSTOP_TRY(ids);
      if (ids->empty()) break;
      Command mget{"MGET"};
      std::vector<std::string> names;
      for (redisReply* e : *ids) {
        auto id = redis::string_of(e, kMaxMessageIdBytes, "ledger index member");
        BACKSTOP_TRY(id);
        mget.push_back(key("l:", *id));
        names.push_back(std::move(*id));
      }
      auto values = (*lease)->run1(mget);
      BACKSTOP_TRY(values);
      auto arr = redis::array_of(values->get(), names.size(), "ledger entries");
      BACKSTOP_TRY(arr);
      if (arr->size() != names.size()) return fail(Code::kMalformed, "redis: MGET answered the wrong count");
      for (std::size_t i = 0; i < names.size(); ++i) {
        auto bytes = redis::string_or_nil((*arr)[i], kMaxLedgerValue, "ledger entry");
        BACKSTOP_TRY(bytes);
        if (!*bytes) continue;  // reclaimed by Redis, its index entry not purged yet
        auto e = codec::decode_ledger(**bytes);
        BACKSTOP_TRY(e);
        out.push_back({std::move(names[i]), std::move(*e)});
      }
      offset += ids->size();
      if (ids->size() < n) break;
    }
    return out;
  }
  Result<std::optional<std::int64_t>> ledger_first_time() override {
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto r = (*lease)->run1({"ZSCORE", key("lf"), "t"});
    BACKSTOP_TRY(r);
    return first_time_of(r->get());
  }
  // The answer to ZSCORE lf t.
  Result<std::optional<std::int64_t>> first_time_of(const redisReply* r) {
    auto text = redis::string_or_nil(r, kMaxCounterValue, "ledger first time");
    BACKSTOP_TRY(text);
    if (!*text) return std::optional<std::int64_t>();
    auto t = redis::parse_exact_int(**text, "ledger first time");
    BACKSTOP_TRY(t);
    return std::optional<std::int64_t>(*t);
  }

  // ---- correspondents ----
  Status correspondent_record(std::string_view local, std::string_view external, std::int64_t time) override {
    BACKSTOP_TRY(check_correspondent(local, external));
    const WriteOp op = CorrespondentSeen{std::string(local), std::string(external), time};
    return apply(std::span<const WriteOp>(&op, 1));
  }
  Result<std::optional<std::int64_t>> correspondent_last_seen(std::string_view local,
                                                              std::string_view external) override {
    BACKSTOP_TRY(check_correspondent(local, external));
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto r = (*lease)->run1({"ZSCORE", key("cx"), correspondent_key(local, external)});
    BACKSTOP_TRY(r);
    return correspondent_of(r->get());
  }
  // The answer to ZSCORE cx <local NUL external>.
  Result<std::optional<std::int64_t>> correspondent_of(const redisReply* r) {
    auto last = score_or_nil(r, "correspondent");
    BACKSTOP_TRY(last);
    if (*last && corr_expired(**last)) return std::optional<std::int64_t>();
    return *last;
  }
  Result<std::vector<Correspondent>> correspondents(std::string_view local, std::size_t limit) override {
    BACKSTOP_TRY(check_address("local address", local));
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    std::vector<Correspondent> out;
    std::string from = "-";
    while (out.size() < limit) {
      auto r = (*lease)->run1({"ZRANGEBYLEX", key("cl:", local), from, "+", "LIMIT", "0", num(kReadPage)});
      BACKSTOP_TRY(r);
      auto members = redis::array_of(r->get(), kReadPage, "correspondents");
      BACKSTOP_TRY(members);
      if (members->empty()) break;
      Command zmscore{"ZMSCORE", key("cx")};
      std::vector<std::string> names;
      for (redisReply* m : *members) {
        auto ext = redis::string_of(m, kMaxAddressBytes, "correspondent");
        BACKSTOP_TRY(ext);
        zmscore.push_back(correspondent_key(local, *ext));
        names.push_back(std::move(*ext));
      }
      auto scores = (*lease)->run1(zmscore);
      BACKSTOP_TRY(scores);
      auto arr = redis::array_of(scores->get(), names.size(), "correspondent times");
      BACKSTOP_TRY(arr);
      if (arr->size() != names.size()) return fail(Code::kMalformed, "redis: ZMSCORE answered the wrong count");
      for (std::size_t i = 0; i < names.size() && out.size() < limit; ++i) {
        auto last = score_or_nil((*arr)[i], "correspondent");
        BACKSTOP_TRY(last);
        if (*last && !corr_expired(**last)) out.push_back({names[i], **last});
      }
      from = "(" + names.back();
      if (members->size() < kReadPage) break;
    }
    return out;
  }

  // ---- counters ----
  Result<std::int64_t> counter_add(std::string_view key_, std::int64_t delta, std::int64_t expires_at) override {
    BACKSTOP_TRY(check_key(key_));
    BACKSTOP_TRY(check_exact(delta, "counter delta"));
    BACKSTOP_TRY(check_exact(expires_at, "counter expiry"));
    auto r = counter_script(key_, delta, expires_at, false, 0);
    BACKSTOP_TRY(r);
    return static_cast<std::int64_t>(*r);
  }
  Result<bool> counter_add_if_below(std::string_view key_, std::int64_t delta, std::int64_t limit,
                                    std::int64_t expires_at) override {
    BACKSTOP_TRY(check_key(key_));
    BACKSTOP_TRY(check_exact(delta, "counter delta"));
    BACKSTOP_TRY(check_exact(limit, "counter limit"));
    BACKSTOP_TRY(check_exact(expires_at, "counter expiry"));
    auto r = counter_script(key_, delta, expires_at, true, limit);
    BACKSTOP_TRY(r);
    if (*r != 0 && *r != 1) return fail(Code::kMalformed, "redis: counter script answered " + num(*r));
    return *r == 1;
  }
  Result<std::int64_t> counter_get(std::string_view key_) override {
    BACKSTOP_TRY(check_key(key_));
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto r = (*lease)->run1({"GET", key("n:", key_)});
    BACKSTOP_TRY(r);
    auto text = redis::string_or_nil(r->get(), kMaxCounterValue, "counter");
    BACKSTOP_TRY(text);
    if (!*text) return std::int64_t{0};
    auto c = parse_counter(**text);
    BACKSTOP_TRY(c);
    return expired_at(c->expires_at, now()) ? 0 : c->value;
  }

  // ---- records ----
  Status record_put(std::string_view key_, std::string_view value, std::int64_t expires_at) override {
    BACKSTOP_TRY(check_record(key_, value));
    const WriteOp op = RecordPut{std::string(key_), std::string(value), expires_at};
    return apply(std::span<const WriteOp>(&op, 1));
  }
  Result<std::optional<std::string>> record_get(std::string_view key_) override {
    BACKSTOP_TRY(check_key(key_));
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto r = (*lease)->run1({"GET", key("r:", key_)});
    BACKSTOP_TRY(r);
    auto bytes = redis::string_or_nil(r->get(), kMaxRecordValue, "record");
    BACKSTOP_TRY(bytes);
    if (!*bytes) return std::optional<std::string>();
    auto rec = codec::decode_record(**bytes);
    BACKSTOP_TRY(rec);
    if (expired_at(rec->expires_at, now())) return std::optional<std::string>();
    return std::optional<std::string>(std::move(rec->value));
  }
  Status record_erase(std::string_view key_) override {
    BACKSTOP_TRY(check_key(key_));
    const WriteOp op = RecordErase{std::string(key_)};
    return apply(std::span<const WriteOp>(&op, 1));
  }
  // WATCH the keys, read, let `fn` decide, write in MULTI/EXEC; a conflict
  // (another writer changed a key) starts over, until the timeout.
  Status records_update(std::span<const std::string> keys, const RecordUpdateFn& fn) override {
    BACKSTOP_TRY(check_update_keys(keys));
    const auto deadline = SteadyClock::now() + pool_.options().timeout;
    for (int attempt = 0;; ++attempt) {
      auto lease = pool_.acquire();
      BACKSTOP_TRY(lease);
      Connection& c = **lease;
      Command watch{"WATCH"}, mget{"MGET"};
      for (const auto& k : keys) {
        watch.push_back(key("r:", k));
        mget.push_back(key("r:", k));
      }
      auto r = c.run(std::vector<Command>{watch, mget});
      BACKSTOP_TRY(r);
      c.set_health(Health::kDiscard);  // until EXEC or UNWATCH ends the WATCH
      BACKSTOP_TRY(redis::check_reply((*r)[0].get()));
      auto arr = redis::array_of((*r)[1].get(), keys.size(), "records");
      BACKSTOP_TRY(arr);
      if (arr->size() != keys.size()) return fail(Code::kMalformed, "redis: MGET answered the wrong count");
      std::vector<std::optional<std::string>> current;
      current.reserve(keys.size());
      for (redisReply* e : *arr) {
        auto bytes = redis::string_or_nil(e, kMaxRecordValue, "record");
        BACKSTOP_TRY(bytes);
        if (!*bytes) {
          current.emplace_back();
          continue;
        }
        auto rec = codec::decode_record(**bytes);
        BACKSTOP_TRY(rec);
        if (expired_at(rec->expires_at, now())) current.emplace_back();
        else current.emplace_back(std::move(rec->value));
      }
      std::vector<RecordChange> changes = fn(current);
      BACKSTOP_TRY(check_update_changes(keys, changes));
      std::vector<Command> tx{{"MULTI"}};
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (changes[i].op == RecordChange::Op::kPut) {
          tx.push_back(record_set(keys[i], changes[i].value, changes[i].expires_at));
        } else if (changes[i].op == RecordChange::Op::kErase) {
          tx.push_back({"DEL", key("r:", keys[i])});
        }
      }
      if (tx.size() == 1) {  // nothing to write
        auto u = c.run1({"UNWATCH"});
        BACKSTOP_TRY(u);
        BACKSTOP_TRY(redis::check_reply(u->get()));
        c.set_health(Health::kOk);
        return {};
      }
      tx.push_back({"EXEC"});
      auto done = exec(c, tx);
      BACKSTOP_TRY(done);
      if (done->has_value()) return {};
      if (SteadyClock::now() >= deadline) {
        return unavailable("redis: records_update kept conflicting with other writers for " +
                           num(pool_.options().timeout.count()) + " ms");
      }
      conflict_pause(attempt);
    }
  }

  // ---- listings ----
  Result<Listing> listing_hit(std::string_view ip, const Evidence& e) override {
    auto addr = ip::parse(ip);
    if (!addr) return unexpected<Error>(std::move(addr).error());
    BACKSTOP_TRY(check_evidence(e));
    const WriteOp op = ListingHit{std::string(ip), e};
    Listing out;
    BACKSTOP_TRY(apply_ops(std::span<const WriteOp>(&op, 1), &out));
    return out;
  }
  Result<std::optional<Listing>> listing_get(std::string_view ip) override {
    auto k = ip::canonical(ip);
    if (!k) return unexpected<Error>(std::move(k).error());
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto r = (*lease)->run1({"GET", key("d:", *k)});
    BACKSTOP_TRY(r);
    return decode_listing_reply(r->get());
  }
  Status listing_put(const Listing& l) override {
    auto k = ip::canonical(l.ip);
    if (!k) return unexpected<Error>(std::move(k).error());
    Listing copy = l;
    copy.ip = *k;
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto done = exec(**lease, {{"MULTI"}, {"SET", key("d:", *k), codec::encode_listing(copy)}, {"ZADD", key("di"), "0", *k}, {"EXEC"}});
    BACKSTOP_TRY(done);
    return {};
  }
  Result<std::vector<Listing>> listing_all() override {
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    std::vector<Listing> out;
    std::string from = "-";
    for (;;) {
      auto ips = lex_page(**lease, key("di"), from, kMaxIpText, "listing index");
      BACKSTOP_TRY(ips);
      if (ips->empty()) break;
      Command mget{"MGET"};
      for (const auto& ip : *ips) mget.push_back(key("d:", ip));
      auto r = (*lease)->run1(mget);
      BACKSTOP_TRY(r);
      auto arr = redis::array_of(r->get(), ips->size(), "listings");
      BACKSTOP_TRY(arr);
      if (arr->size() != ips->size()) return fail(Code::kMalformed, "redis: MGET answered the wrong count");
      for (redisReply* e : *arr) {
        auto l = decode_listing_reply(e);
        BACKSTOP_TRY(l);
        if (*l) out.push_back(std::move(**l));
      }
      from = "(" + ips->back();
      if (ips->size() < kReadPage) break;
    }
    return out;
  }
  Result<bool> listing_remove(std::string_view ip) override {
    auto k = ip::canonical(ip);
    if (!k) return unexpected<Error>(std::move(k).error());
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto done = exec(**lease, {{"MULTI"}, {"DEL", key("d:", *k)}, {"ZREM", key("di"), *k}, {"EXEC"}});
    BACKSTOP_TRY(done);
    if (!*done) return unavailable("redis: transaction aborted");  // nothing was WATCHed
    auto n = redis::integer_of((**done)->element[0], "DEL");
    BACKSTOP_TRY(n);
    return *n > 0;
  }
  Status allowlist_add(std::string_view cidr) override {
    auto c = ip::parse_network(cidr);
    if (!c) return unexpected<Error>(std::move(c).error());
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto r = (*lease)->run1({"ZADD", key("da"), "0", ip::to_string(*c)});
    BACKSTOP_TRY(r);
    BACKSTOP_TRY(redis::integer_of(r->get(), "ZADD"));
    return {};
  }
  Result<bool> allowlist_remove(std::string_view cidr) override {
    auto c = ip::parse_network(cidr);
    if (!c) return unexpected<Error>(std::move(c).error());
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    auto r = (*lease)->run1({"ZREM", key("da"), ip::to_string(*c)});
    BACKSTOP_TRY(r);
    auto n = redis::integer_of(r->get(), "ZREM");
    BACKSTOP_TRY(n);
    return *n > 0;
  }
  Result<std::vector<std::string>> allowlist() override {
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    return read_allowlist(**lease);
  }
  Result<bool> allowlisted(std::string_view ip) override {
    auto addr = ip::parse(ip);
    if (!addr) return unexpected<Error>(std::move(addr).error());
    auto list = allowlist();
    BACKSTOP_TRY(list);
    return contains(*list, *addr);
  }

  // ---- maintenance ----
  Status apply(std::span<const WriteOp> ops) override { return apply_ops(ops, nullptr); }

  // One SCAN over the prefix for the ledger, counters, records and listings
  // (values fetched with one MGET per page), a ZSCAN of the correspondents,
  // then the first time and the allowlist. SCAN may return a key twice
  // (while Redis rehashes): keys already visited are skipped by a 64-bit
  // hash of each, 8 bytes per item.
  Status export_all(ExportVisitor& visitor) override {
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    Connection& c = **lease;
    std::unordered_set<std::uint64_t> seen;
    const auto first_visit = [&](std::string_view k) { return seen.insert(std::hash<std::string_view>{}(k)).second; };
    const auto broken = [](std::string_view what, const Error& e) {
      return fail(Code::kUnavailable, "export " + std::string(what) + ": " + e.message());
    };
    std::string cursor = "0";
    do {
      auto r = c.run1({"SCAN", cursor, "MATCH", glob_escape(p_) + "*", "COUNT", num(kExportScan)});
      if (!r) return broken("keys", r.error());
      auto parts = redis::array_of(r->get(), 2, "SCAN");
      if (!parts) return broken("keys", parts.error());
      if (parts->size() != 2) return fail(Code::kUnavailable, "export keys: SCAN answered no cursor");
      auto next = redis::string_of((*parts)[0], kMaxCursorBytes, "SCAN cursor");
      if (!next) return broken("keys", next.error());
      auto keys = redis::array_of((*parts)[1], kMaxScanKeys, "SCAN keys");
      if (!keys) return broken("keys", keys.error());
      Command mget{"MGET"};
      for (redisReply* k : *keys) {
        if (k->type != REDIS_REPLY_STRING) return fail(Code::kUnavailable, "export keys: SCAN answered a non-string");
        const std::string_view name(k->str, k->len);
        if (!name.starts_with(p_)) continue;
        const std::string_view rest = name.substr(p_.size());
        const bool ours = rest.starts_with("l:") || rest.starts_with("n:") || rest.starts_with("r:") ||
                          rest.starts_with("d:");
        if (ours && first_visit(name)) mget.emplace_back(name);
      }
      if (mget.size() > 1) {
        auto values = c.run1(mget);
        if (!values) return broken("values", values.error());
        auto arr = redis::array_of(values->get(), mget.size() - 1, "MGET");
        if (!arr) return broken("values", arr.error());
        if (arr->size() != mget.size() - 1) return fail(Code::kUnavailable, "export values: MGET answered the wrong count");
        for (std::size_t i = 0; i < arr->size(); ++i) {
          BACKSTOP_TRY(export_value(visitor, std::string_view(mget[i + 1]).substr(p_.size()), (*arr)[i]));
        }
      }
      cursor = std::move(*next);
    } while (cursor != "0");

    cursor = "0";
    do {
      auto r = c.run1({"ZSCAN", key("cx"), cursor, "COUNT", num(kExportScan)});
      if (!r) return broken("correspondents", r.error());
      auto parts = redis::array_of(r->get(), 2, "ZSCAN");
      if (!parts) return broken("correspondents", parts.error());
      if (parts->size() != 2) return fail(Code::kUnavailable, "export correspondents: ZSCAN answered no cursor");
      auto next = redis::string_of((*parts)[0], kMaxCursorBytes, "ZSCAN cursor");
      if (!next) return broken("correspondents", next.error());
      auto pairs = redis::array_of((*parts)[1], 2 * kMaxScanKeys, "ZSCAN members");
      if (!pairs) return broken("correspondents", pairs.error());
      for (std::size_t i = 0; i + 1 < pairs->size(); i += 2) {
        const redisReply* m = (*pairs)[i];
        if (m->type != REDIS_REPLY_STRING) return fail(Code::kUnavailable, "export correspondents: ZSCAN answered a non-string");
        const std::string_view member(m->str, m->len);
        if (!first_visit(key("cx", member))) continue;
        const auto nul = member.find('\0');
        auto score = redis::string_of((*pairs)[i + 1], kMaxCounterValue, "correspondent");
        auto last = score ? redis::parse_exact_int(*score, "correspondent") : Result<std::int64_t>(unexpected<Error>(score.error()));
        if (nul == std::string_view::npos) {
          visitor.damaged("correspondent", member, "member without a local part");
        } else if (!last) {
          visitor.damaged("correspondent", member, last.error().message());
        } else if (!corr_expired(*last)) {
          BACKSTOP_TRY(visitor.item(CorrespondentSeen{std::string(member.substr(0, nul)), std::string(member.substr(nul + 1)), *last}));
        }
      }
      cursor = std::move(*next);
    } while (cursor != "0");

    auto r = c.run1({"ZSCORE", key("lf"), "t"});
    if (!r) return broken("ledger first time", r.error());
    if ((*r)->type != REDIS_REPLY_NIL) {
      auto text = redis::string_of(r->get(), kMaxCounterValue, "ledger first time");
      auto t = text ? redis::parse_exact_int(*text, "ledger first time") : Result<std::int64_t>(unexpected<Error>(text.error()));
      if (!t) visitor.damaged("ledger first time", "lf", t.error().message());
      else BACKSTOP_TRY(visitor.item(LedgerFirstTime{*t}));
    }
    auto allow = read_allowlist(c);
    if (!allow) return broken("allowlist", allow.error());
    for (auto& cidr : *allow) {
      auto net = ip::parse_network(cidr);
      if (!net || ip::to_string(*net) != cidr) visitor.damaged("allowlist", cidr, "not a canonical CIDR");
      else BACKSTOP_TRY(visitor.item(AllowlistAdd{std::move(cidr)}));
    }
    return {};
  }

  Result<std::size_t> purge_expired() override {
    const std::int64_t t = now();
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    Connection& c = **lease;
    std::size_t removed = 0;
    for (auto [script, cutoff] : {std::pair{kPurgeLedger, t - opt_.ledger_ttl},
                                  std::pair{kPurgeCorrespondents, t - opt_.correspondent_ttl}}) {
      for (;;) {
        auto n = run_script(c, script, {}, {p_, num(cutoff), num(kPurgeChunk)});
        BACKSTOP_TRY(n);
        removed += static_cast<std::size_t>(*n);
        if (static_cast<std::size_t>(*n) < kPurgeChunk) break;
      }
    }
    for (auto [script, tag] : {std::pair{kPurgeCounters, "n:"}, std::pair{kPurgeRecords, "r:"}}) {
      const std::string match = glob_escape(p_ + tag) + "*";
      std::string cursor = "0";
      do {
        auto r = c.run1({"SCAN", cursor, "MATCH", match, "COUNT", num(kPurgeScan)});
        BACKSTOP_TRY(r);
        auto parts = redis::array_of(r->get(), 2, "SCAN");
        BACKSTOP_TRY(parts);
        if (parts->size() != 2) return fail(Code::kMalformed, "redis: SCAN answered no cursor");
        auto next = redis::string_of((*parts)[0], kMaxCursorBytes, "SCAN cursor");
        BACKSTOP_TRY(next);
        auto keys = redis::array_of((*parts)[1], kMaxScanKeys, "SCAN keys");
        BACKSTOP_TRY(keys);
        std::vector<std::string> batch;
        for (redisReply* k : *keys) {
          auto name = redis::string_of(k, p_.size() + 3 + kMaxKeyBytes, "SCAN key");
          BACKSTOP_TRY(name);
          batch.push_back(std::move(*name));
        }
        if (!batch.empty()) {
          auto n = run_script(c, script, std::move(batch), {num(t)});
          BACKSTOP_TRY(n);
          removed += static_cast<std::size_t>(*n);
        }
        cursor = std::move(*next);
      } while (cursor != "0");
    }
    return removed;
  }

 private:
  enum ScriptId { kCounter, kPurgeLedger, kPurgeCorrespondents, kPurgeCounters, kPurgeRecords, kWindows, kScriptCount };

  std::int64_t now() const { return clock_.now_unix(); }
  bool ledger_expired(std::int64_t time) const { return time + opt_.ledger_ttl <= now(); }
  bool corr_expired(std::int64_t last) const { return last + opt_.correspondent_ttl <= now(); }

  std::string key(std::string_view tag, std::string_view rest = {}) const {
    std::string k;
    k.reserve(p_.size() + tag.size() + rest.size());
    k.append(p_).append(tag).append(rest);
    return k;
  }

  // PX in milliseconds for an item expiring at `expires_at` (our clock):
  // what is left of its life plus the grace; nullopt for no expiry.
  std::optional<std::int64_t> px(std::int64_t expires_at) const {
    if (expires_at == 0) return std::nullopt;
    const std::int64_t t = now();
    if (expires_at > t && expires_at - t > kMaxRedisTtl) return std::nullopt;
    const std::int64_t left = expires_at > t ? expires_at - t : 0;
    return (left + kRedisExpiryGrace) * 1000;
  }

  // One value of export_all's SCAN: `rest` is the key after the prefix
  // ("l:<id>", "n:<key>", "r:<key>", "d:<ip>"). Nil: deleted since the SCAN.
  Status export_value(ExportVisitor& visitor, std::string_view rest, const redisReply* v) {
    const std::string_view tag = rest.substr(0, 2), k = rest.substr(2);
    const std::string_view what = tag == "l:" ? "ledger" : tag == "n:" ? "counter" : tag == "r:" ? "record" : "listing";
    if (v->type == REDIS_REPLY_NIL) return {};
    if (v->type != REDIS_REPLY_STRING) {
      visitor.damaged(what, k, "not a string");
      return {};
    }
    const std::string_view bytes(v->str, v->len);
    if (tag == "l:") {
      auto e = codec::decode_ledger(bytes);
      if (!e) visitor.damaged(what, k, e.error().message());
      else if (!ledger_expired(e->time)) return visitor.item(LedgerPut{std::string(k), std::move(*e)});
    } else if (tag == "n:") {
      Result<codec::Counter> c = fail(Code::kMalformed, "counter too long");
      if (bytes.size() <= kMaxCounterValue) c = parse_counter(bytes);
      if (!c) visitor.damaged(what, k, c.error().message());
      else if (!expired_at(c->expires_at, now())) return visitor.item(CounterPut{std::string(k), c->value, c->expires_at});
    } else if (tag == "r:") {
      auto r = codec::decode_record(bytes);
      if (!r) visitor.damaged(what, k, r.error().message());
      else if (!expired_at(r->expires_at, now())) {
        return visitor.item(RecordPut{std::string(k), std::move(r->value), r->expires_at});
      }
    } else {
      auto l = codec::decode_listing(bytes);
      if (!l) visitor.damaged(what, k, l.error().message());
      else if (l->ip != k) visitor.damaged(what, k, "stored under another address");
      else return visitor.item(ListingPut{std::move(*l)});
    }
    return {};
  }

  Command record_set(std::string_view k, std::string_view value, std::int64_t expires_at) const {
    Command set{"SET", key("r:", k), codec::encode_record(expires_at, value)};
    if (auto ms = px(expires_at)) {
      set.push_back("PX");
      set.push_back(num(*ms));
    }
    return set;
  }

  Result<std::optional<std::int64_t>> score_or_nil(const redisReply* r, std::string_view what) {
    auto text = redis::string_or_nil(r, kMaxCounterValue, what);
    BACKSTOP_TRY(text);
    if (!*text) return std::optional<std::int64_t>();
    auto v = redis::parse_exact_int(**text, what);
    BACKSTOP_TRY(v);
    return std::optional<std::int64_t>(*v);
  }

  Result<std::optional<Listing>> decode_listing_reply(const redisReply* r) {
    auto bytes = redis::string_or_nil(r, kMaxListingValue, "listing");
    BACKSTOP_TRY(bytes);
    if (!*bytes) return std::optional<Listing>();
    auto l = codec::decode_listing(**bytes);
    BACKSTOP_TRY(l);
    return std::optional<Listing>(std::move(*l));
  }

  // Up to kReadPage members of a score-0 zset after `from` ("-" or "(member").
  Result<std::vector<std::string>> lex_page(Connection& c, const std::string& zset, const std::string& from,
                                            std::size_t max_member, std::string_view what) {
    auto r = c.run1({"ZRANGEBYLEX", zset, from, "+", "LIMIT", "0", num(kReadPage)});
    BACKSTOP_TRY(r);
    auto arr = redis::array_of(r->get(), kReadPage, what);
    BACKSTOP_TRY(arr);
    std::vector<std::string> out;
    for (redisReply* m : *arr) {
      auto s = redis::string_of(m, max_member, what);
      BACKSTOP_TRY(s);
      out.push_back(std::move(*s));
    }
    return out;
  }

  Result<std::vector<std::string>> read_allowlist(Connection& c) {
    std::vector<std::string> out;
    std::string from = "-";
    for (;;) {
      auto page = lex_page(c, key("da"), from, kMaxCidrText, "allowlist");
      BACKSTOP_TRY(page);
      for (auto& cidr : *page) out.push_back(std::move(cidr));
      if (page->size() < kReadPage) break;
      from = "(" + out.back();
    }
    return out;
  }

  static bool contains(const std::vector<std::string>& allow, const ip::Address& a) {
    for (const auto& text : allow) {
      auto net = ip::parse_network(text);
      if (net && ip::contains(*net, a)) return true;
    }
    return false;
  }

  // Runs MULTI ... EXEC (already in `tx`, first and last) in one round trip.
  // The EXEC reply (one checked element per queued command) when committed;
  // nullopt when a WATCHed key changed. An error reply inside is returned as
  // an error (Redis has applied the transaction's other commands: possible
  // only when one of our keys holds a foreign type).
  Result<std::optional<Reply>> exec(Connection& c, const std::vector<Command>& tx) {
    auto r = c.run(tx);
    BACKSTOP_TRY(r);
    c.set_health(Health::kOk);  // EXEC ends MULTI and WATCH whatever it answers
    for (std::size_t i = 0; i + 1 < r->size(); ++i) BACKSTOP_TRY(redis::check_reply((*r)[i].get()));
    Reply e = std::move(r->back());
    if (e->type == REDIS_REPLY_NIL) return std::optional<Reply>();
    auto arr = redis::array_of(e.get(), tx.size() - 2, "EXEC");
    BACKSTOP_TRY(arr);
    if (arr->size() != tx.size() - 2) return fail(Code::kMalformed, "redis: EXEC answered the wrong count");
    for (redisReply* x : *arr) BACKSTOP_TRY(redis::check_reply(x));
    return std::optional<Reply>(std::move(e));
  }

  // EVALSHA, or EVAL when the server does not know the script (restarted,
  // failed over, SCRIPT FLUSH). Returns the script's reply, error or not.
  Result<Reply> eval(Connection& c, ScriptId id, std::vector<std::string> keys, std::vector<std::string> args) {
    const Script& s = scripts_[id];
    Command cmd{"EVALSHA", s.sha, num(static_cast<std::int64_t>(keys.size()))};
    for (auto& k : keys) cmd.push_back(std::move(k));
    for (auto& a : args) cmd.push_back(std::move(a));
    auto r = c.run1(cmd);
    BACKSTOP_TRY(r);
    const redisReply* rep = r->get();
    if (rep->type == REDIS_REPLY_ERROR && std::string_view(rep->str, rep->len).starts_with("NOSCRIPT")) {
      cmd[0] = "EVAL";
      cmd[1] = std::string(s.text);
      r = c.run1(cmd);
      BACKSTOP_TRY(r);
    }
    return r;
  }

  // A script's integer answer.
  Result<long long> run_script(Connection& c, ScriptId id, std::vector<std::string> keys,
                               std::vector<std::string> args) {
    auto r = eval(c, id, std::move(keys), std::move(args));
    BACKSTOP_TRY(r);
    const redisReply* rep = r->get();
    if (rep->type == REDIS_REPLY_ERROR && std::string_view(rep->str, rep->len).find("BSRANGE") != std::string_view::npos) {
      return fail(Code::kInvalidArgument, "counter would leave the Redis backend's exact range (2^53)");
    }
    return redis::integer_of(rep, "script");
  }

  Result<long long> counter_script(std::string_view k, std::int64_t delta, std::int64_t expires_at, bool check,
                                   std::int64_t limit) {
    auto lease = pool_.acquire();
    BACKSTOP_TRY(lease);
    return run_script(**lease, kCounter, {key("n:", k)},
                      {num(delta), num(expires_at), num(now()), num(kRedisExpiryGrace), num(kMaxRedisTtl),
                       check ? "1" : "0", num(limit)});
  }

  // All ops in one MULTI/EXEC. Listing hits read their listings and the
  // allowlist first, under WATCH, and the whole batch starts over when
  // another writer changed them. `last_hit` gets the listing after the
  // last ListingHit.
  Status apply_ops(std::span<const WriteOp> ops, Listing* last_hit) {
    for (const auto& op : ops) {
      BACKSTOP_TRY(check_op(op));
      if (const auto* n = std::get_if<CounterPut>(&op)) {
        BACKSTOP_TRY(check_exact(n->value, "counter value"));
        BACKSTOP_TRY(check_exact(n->expires_at, "counter expiry"));
      }
    }
    if (ops.empty()) return {};
    std::set<std::string> hit_ips;
    std::set<std::string> append_keys;
    for (const auto& op : ops) {
      if (const auto* h = std::get_if<ListingHit>(&op)) hit_ips.insert(ip::to_string(ip::parse(h->ip).value()));
      if (const auto* a = std::get_if<RecordAppend>(&op)) append_keys.insert(a->key);
    }
    const auto deadline = SteadyClock::now() + pool_.options().timeout;
    for (int attempt = 0;; ++attempt) {
      auto lease = pool_.acquire();
      BACKSTOP_TRY(lease);
      auto done = apply_once(**lease, ops, hit_ips, append_keys, last_hit);
      BACKSTOP_TRY(done);
      if (*done) return {};
      if (SteadyClock::now() >= deadline) {
        return unavailable("redis: listing update kept conflicting with other writers for " +
                           num(pool_.options().timeout.count()) + " ms");
      }
      conflict_pause(attempt);
    }
  }

  // Record appends read their records under the same WATCH as listing hits.
  Result<bool> apply_once(Connection& c, std::span<const WriteOp> ops, const std::set<std::string>& hit_ips,
                          const std::set<std::string>& append_keys, Listing* last_hit) {
    std::map<std::string, Listing> listings;
    std::map<std::string, std::optional<std::string>> appended;
    std::vector<std::string> allow;
    if (!hit_ips.empty() || !append_keys.empty()) {
      Command watch{"WATCH", key("da")}, mget{"MGET"}, rget{"MGET"};
      for (const auto& ip : hit_ips) {
        watch.push_back(key("d:", ip));
        mget.push_back(key("d:", ip));
      }
      for (const auto& k : append_keys) {
        watch.push_back(key("r:", k));
        rget.push_back(key("r:", k));
      }
      std::vector<Command> cmds{watch};
      if (!hit_ips.empty()) cmds.push_back(mget);
      if (!append_keys.empty()) cmds.push_back(rget);
      auto r = c.run(cmds);
      BACKSTOP_TRY(r);
      c.set_health(Health::kDiscard);  // until EXEC ends the WATCH
      BACKSTOP_TRY(redis::check_reply((*r)[0].get()));
      std::size_t next = 1;
      if (!hit_ips.empty()) {
        auto arr = redis::array_of((*r)[next++].get(), hit_ips.size(), "listings");
        BACKSTOP_TRY(arr);
        if (arr->size() != hit_ips.size()) return fail(Code::kMalformed, "redis: MGET answered the wrong count");
        std::size_t i = 0;
        for (const auto& ip : hit_ips) {
          auto l = decode_listing_reply((*arr)[i++]);
          BACKSTOP_TRY(l);
          listings[ip] = l->value_or(Listing{});
        }
      }
      if (!append_keys.empty()) {
        auto arr = redis::array_of((*r)[next++].get(), append_keys.size(), "records");
        BACKSTOP_TRY(arr);
        if (arr->size() != append_keys.size()) return fail(Code::kMalformed, "redis: MGET answered the wrong count");
        std::size_t i = 0;
        for (const auto& k : append_keys) {
          auto& slot = appended[k];
          // A damaged or foreign value is replaced (store.h: RecordAppend).
          auto bytes = redis::string_or_nil((*arr)[i++], kMaxRecordValue, "record");
          if (!bytes || !*bytes) continue;
          auto rec = codec::decode_record(**bytes);
          if (rec && !expired_at(rec->expires_at, now())) slot = std::move(rec->value);
        }
      }
      if (!hit_ips.empty()) {
        auto a = read_allowlist(c);
        BACKSTOP_TRY(a);
        allow = std::move(*a);
      }
    }
    std::vector<Command> tx{{"MULTI"}};
    for (const auto& op : ops) {
      if (const auto* p = std::get_if<LedgerPut>(&op)) {
        Command set{"SET", key("l:", p->message_id), codec::encode_ledger(p->entry)};
        if (auto ms = px(p->entry.time + opt_.ledger_ttl)) {
          set.push_back("PX");
          set.push_back(num(*ms));
        }
        tx.push_back(std::move(set));
        tx.push_back({"ZADD", key("lt"), num(p->entry.time), p->message_id});
        tx.push_back({"ZADD", key("lf"), "LT", num(p->entry.time), "t"});
        index_cmds(p->message_id, p->entry, &tx);
      } else if (const auto* s = std::get_if<CorrespondentSeen>(&op)) {
        tx.push_back({"ZADD", key("cx"), "GT", num(s->time), correspondent_key(s->local, s->external)});
        tx.push_back({"ZADD", key("cl:", s->local), "0", s->external});
      } else if (const auto* rp = std::get_if<RecordPut>(&op)) {
        tx.push_back(record_set(rp->key, rp->value, rp->expires_at));
        if (auto it = appended.find(rp->key); it != appended.end()) it->second = rp->value;
      } else if (const auto* re = std::get_if<RecordErase>(&op)) {
        tx.push_back({"DEL", key("r:", re->key)});
        if (auto it = appended.find(re->key); it != appended.end()) it->second.reset();
      } else if (const auto* f = std::get_if<LedgerFirstTime>(&op)) {
        tx.push_back({"ZADD", key("lf"), "LT", num(f->time), "t"});
      } else if (const auto* n = std::get_if<CounterPut>(&op)) {
        Command set{"SET", key("n:", n->key), num(n->value) + " " + num(n->expires_at)};
        if (auto ms = px(n->expires_at)) {
          set.push_back("PX");
          set.push_back(num(*ms));
        }
        tx.push_back(std::move(set));
      } else if (const auto* lp = std::get_if<ListingPut>(&op)) {
        Listing copy = lp->listing;
        copy.ip = ip::canonical(copy.ip).value();
        tx.push_back({"SET", key("d:", copy.ip), codec::encode_listing(copy)});
        tx.push_back({"ZADD", key("di"), "0", copy.ip});
      } else if (const auto* al = std::get_if<AllowlistAdd>(&op)) {
        tx.push_back({"ZADD", key("da"), "0", ip::to_string(ip::parse_network(al->cidr).value())});
      } else if (const auto* ap = std::get_if<RecordAppend>(&op)) {
        auto& current = appended[ap->key];
        current = append_item(current, *ap);
        tx.push_back(record_set(ap->key, *current, ap->expires_at));
      } else {
        const auto& h = std::get<ListingHit>(op);
        const ip::Address a = ip::parse(h.ip).value();
        const std::string k = ip::to_string(a);
        Listing& l = listings[k];
        l.ip = k;
        apply_hit(l, h.evidence, contains(allow, a));
        if (last_hit) *last_hit = l;
        tx.push_back({"SET", key("d:", k), codec::encode_listing(l)});
        tx.push_back({"ZADD", key("di"), "0", k});
      }
    }
    tx.push_back({"EXEC"});
    auto done = exec(c, tx);
    BACKSTOP_TRY(done);
    return done->has_value();
  }

  const Options opt_;
  const Clock& clock_;
  const std::string p_;
  redis::Pool pool_;
  std::array<Script, kScriptCount> scripts_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_redis_store(const RedisOptions& redis, Options options) {
  redis::PoolOptions po;
  if (redis.sentinel_master.empty()) {
    if (redis.servers.empty()) return fail(Code::kInvalidArgument, "redis: no server and no Sentinel master");
    for (const auto& s : redis.servers) {
      auto e = parse_redis_endpoint(s);
      BACKSTOP_TRY(e);
      po.servers.push_back(std::move(*e));
    }
  } else {
    if (redis.sentinels.empty()) return fail(Code::kInvalidArgument, "redis: a Sentinel master but no sentinels");
    for (const auto& s : redis.sentinels) {
      auto e = parse_redis_endpoint(s);
      BACKSTOP_TRY(e);
      if (!e->path.empty()) return fail(Code::kInvalidArgument, "redis: sentinels are HOST:PORT, not " + s);
      po.sentinels.push_back(std::move(*e));
    }
  }
  BACKSTOP_TRY(check_redis_prefix(redis.prefix));
  if (redis.db < 0) return fail(Code::kInvalidArgument, "redis: negative database number");
  if (redis.timeout.count() <= 0) return fail(Code::kInvalidArgument, "redis: the timeout must be positive");
  if (redis.max_connections == 0 || redis.max_connections > kMaxRedisConnections) {
    return fail(Code::kInvalidArgument, "redis: 1 to " + std::to_string(kMaxRedisConnections) + " connections");
  }
  po.sentinel_master = redis.sentinel_master;
  po.observer = options.remote_observer;
  po.user = redis.user;
  po.password = redis.password;
  po.db = redis.db;
  po.timeout = redis.timeout;
  po.max_connections = redis.max_connections;
  auto s = std::make_unique<RedisStore>(options, redis.prefix, std::move(po));
  BACKSTOP_TRY(s->open());
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace backstop::store
