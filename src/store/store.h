// The store: everything backstop remembers between messages, behind one
// interface with several backends (LMDB embedded, Redis shared by several
// hosts in redis_store.h, in-memory for tests; no backend type appears here).
//
// Contents:
//  - ledger: outbound Message-ID -> {time, envelope sender, recipients, ENVID},
//    expired after Options::ledger_ttl (default 30 days) counted from the
//    entry's time; with a secondary index by recipient and by ENVID
//    (ledger_find()), derived from the entries: written, replaced and purged
//    with them, never exported (a LedgerPut rebuilds it), and built from the
//    entries when a store written before the index is opened;
//  - correspondents: local user -> external addresses written to, with last time;
//  - counters: integer windows for rate limits, atomic across threads and
//    processes (LMDB) or hosts (Redis), reset once their expiry has passed;
//  - records: small key -> bytes facts other features keep, with an expiry;
//  - listings: DNSBL state per IP (hits by kind, first/last seen, evidence),
//    plus an allowlist of CIDRs that are never listed.
//
// Errors: every call returns Result/Status. Absence is not an error (an empty
// optional); kInvalidArgument for bad keys (empty, over the named limits below),
// kUnavailable when the backend cannot serve (map full and not growable, I/O
// failure, Redis down) — the mail path maps it to 4xx; kMalformed when stored
// bytes are damaged.
//
// Time: "expired" is judged with the Clock given in Options; an expired item is
// invisible to reads even before purge_expired() removes it.
//
// Thread-safety: every Store method is safe to call concurrently from any
// thread. Calls are synchronous: reads are cheap (LMDB: a read-only snapshot,
// no lock shared with writers); single writes commit one transaction each, so
// event-loop threads should enqueue writes in a BatchWriter (batch_writer.h),
// which commits many in one transaction on a background thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace backstop::store {

// LMDB's default maximum key size is 511 bytes; every composite key we build
// stays below it.
// Message-IDs longer than this are refused (RFC 5322 lines are <= 998 bytes,
// real Message-IDs are < 100).
inline constexpr std::size_t kMaxMessageIdBytes = 400;
// RFC 5321 §4.5.3.1.3: a path is at most 256 octets.
inline constexpr std::size_t kMaxAddressBytes = 256;
// Recipients kept per ledger entry (Postfix's default smtpd_recipient_limit is 1000).
inline constexpr std::size_t kMaxLedgerRecipients = 1000;
// RFC 3461 §4.4: an ENVID is at most 100 characters.
inline constexpr std::size_t kMaxEnvidBytes = 100;
// Entries one ledger_find() returns: a bounce names one recipient, and a
// few messages to it near one time are enough to prove it ours.
inline constexpr std::size_t kMaxLedgerFind = 16;
// Counter and record keys are our own strings ("rl:sasl:alice:3600"...).
inline constexpr std::size_t kMaxKeyBytes = 400;
// Records hold small facts, not messages.
inline constexpr std::size_t kMaxRecordBytes = 64 * 1024;
// A listing kind is a short word ("bounce", "virus_notice"...).
inline constexpr std::size_t kMaxKindBytes = 32;
// Distinct kinds counted per listing; further kinds are folded into "other".
inline constexpr std::size_t kMaxKindsPerListing = 16;

inline constexpr std::int64_t kDay = 86400;
inline constexpr std::int64_t kDefaultLedgerTtl = 30 * kDay;
inline constexpr std::int64_t kDefaultCorrespondentTtl = 365 * kDay;

// One outbound message.
struct LedgerEntry {
  std::int64_t time = 0;                // unix seconds it was sent (expiry counts from here)
  std::string sender;                   // envelope sender; empty = null sender
  std::vector<std::string> recipients;  // envelope recipients, at most kMaxLedgerRecipients
  // The ENVID of the MAIL command (RFC 3461), xtext-decoded; empty = none.
  // At most kMaxEnvidBytes, no NUL.
  std::string envid{};
  friend bool operator==(const LedgerEntry&, const LedgerEntry&) = default;
};

// A question to the ledger's secondary index (ledger_find()).
enum class LedgerKey { kRecipient, kEnvid };
struct LedgerFind {
  LedgerKey key = LedgerKey::kRecipient;
  // kRecipient: an address, compared ASCII case-insensitively with the
  // entries' recipients; kEnvid: compared byte for byte with their envid.
  std::string value{};
  std::int64_t from = 0;  // entries sent at from <= time <= to
  std::int64_t to = 0;
};

struct LedgerItem {
  std::string message_id;
  LedgerEntry entry;
};

struct Correspondent {
  std::string address;     // the external address
  std::int64_t last_seen;  // unix seconds of the last message to it
  friend bool operator==(const Correspondent&, const Correspondent&) = default;
};

// What a spamtrap hit proves about a sending IP.
struct Evidence {
  std::string kind;        // classify kind name, <= kMaxKindBytes
  std::string message_id;  // of the trapped message, may be empty
  std::int64_t time = 0;   // unix seconds of the hit
  friend bool operator==(const Evidence&, const Evidence&) = default;
};

struct Listing {
  std::string ip;                              // canonical text (inet_ntop form)
  std::map<std::string, std::uint64_t> hits;   // by kind
  std::int64_t first_seen = 0;
  std::int64_t last_seen = 0;
  Evidence last_evidence;
  bool listed = false;  // false when delisted by hand or allowlisted
  // Self-service delistings so far (the lookup page's form; not the
  // operator's `dnsbl delist`): each one lengthens the next listing of this
  // IP (dnsbl/listings.h). Kept by hits and puts; gone when the listing is purged.
  std::uint32_t self_delists = 0;
  std::uint64_t total_hits() const;
  friend bool operator==(const Listing&, const Listing&) = default;
};

// Writes that can be batched (BatchWriter) and applied atomically (Store::apply).
struct LedgerPut {
  std::string message_id;
  LedgerEntry entry;
};
struct CorrespondentSeen {
  std::string local;     // local user address
  std::string external;  // address written to
  std::int64_t time = 0;
};
struct RecordPut {
  std::string key;
  std::string value{};
  std::int64_t expires_at = 0;  // unix seconds; 0 = never
};
struct RecordErase {
  std::string key;
};
struct ListingHit {
  std::string ip;
  Evidence evidence;
};
// For copying a state (export_all's items written back): the ledger's first
// time, kept as the minimum of the stored one and `time`.
struct LedgerFirstTime {
  std::int64_t time = 0;
};
// Sets a counter's value and window as given, whatever it held.
struct CounterPut {
  std::string key;
  std::int64_t value = 0;
  std::int64_t expires_at = 0;  // unix seconds; 0 = never
};
// Replaces a listing as given (listing_put()).
struct ListingPut {
  Listing listing;
};
// Adds a CIDR to the allowlist (allowlist_add()).
struct AllowlistAdd {
  std::string cidr;
};
// Appends `item` to the bounded list held by record `key` (a record written
// only by RecordAppend; record_items() splits its value): the oldest items
// are dropped until at most `max_items` remain and the value is at most
// `max_bytes` (<= kMaxRecordBytes); an item alone larger than that is not
// stored. Sets the record's expiry to `expires_at`. A value that is not such
// a list (damaged, or written by record_put) is replaced, never an error, so
// an append cannot fail the batch it rides in.
struct RecordAppend {
  std::string key;
  std::string item;
  std::size_t max_items = 1;
  std::size_t max_bytes = kMaxRecordBytes;
  std::int64_t expires_at = 0;  // unix seconds; 0 = never
};
using WriteOp = std::variant<LedgerPut, CorrespondentSeen, RecordPut, RecordErase, ListingHit, LedgerFirstTime,
                             CounterPut, ListingPut, AllowlistAdd, RecordAppend>;

// The items of a RecordAppend record's value, oldest first; kMalformed when
// the value is not such a list.
Result<std::vector<std::string>> record_items(std::string_view value);

// One unexpired item of a store, as export_all() visits it; each is also the
// WriteOp that recreates it (a correspondent's time is its last_seen).
using ExportItem =
    std::variant<LedgerPut, LedgerFirstTime, CorrespondentSeen, CounterPut, RecordPut, ListingPut, AllowlistAdd>;

// Receives export_all()'s items. Called on the exporting thread; must not
// write to the store being exported.
class ExportVisitor {
 public:
  virtual ~ExportVisitor() = default;
  // One item. A non-ok status stops the walk; export_all() returns it.
  virtual Status item(const ExportItem& item) = 0;
  // One stored record that cannot be decoded: `what` its kind ("ledger",
  // "counter"...), `key` its key (raw bytes), `why` the decoder's reason. The
  // walk goes on past it.
  virtual void damaged(std::string_view what, std::string_view key, std::string_view why) = 0;
};

// One record's fate, returned by a RecordUpdateFn for the key at the same index.
struct RecordChange {
  enum class Op { kKeep, kPut, kErase };
  Op op = Op::kKeep;
  std::string value;            // for kPut, <= kMaxRecordBytes
  std::int64_t expires_at = 0;  // for kPut; unix seconds, 0 = never
};
// Gets the current value of each key, in the order given (nullopt: absent or
// expired), and returns one change per key. It runs inside the write
// transaction, so it must be quick, must not call the store, and may run more
// than once (the LMDB map may grow and the transaction be retried; another
// Redis client may change a key meanwhile and the update start over).
using RecordUpdateFn = std::function<std::vector<RecordChange>(std::span<const std::optional<std::string>>)>;
// Keys one records_update() may touch (a message's limit keys: scopes x measures x windows).
inline constexpr std::size_t kMaxUpdateKeys = 64;

// ---- sliding windows counted by the backend ----
// One rate window of a limit (outbound/limits.h), for a backend that checks
// and counts windows where the state lives, in one round trip (Redis: one
// Lua script per event, no optimistic retry). A window moves in steps of
// `step` seconds: an event is remembered for between `seconds` and
// `seconds + step`, like outbound::SlidingCount.
struct WindowSpec {
  enum class Kind { kCount, kDistinct };
  std::string key;            // the window's state; 1..kMaxKeyBytes
  Kind kind = Kind::kCount;
  std::int64_t seconds = 0;   // 1..kMaxWindowStateSeconds
  std::int64_t step = 1;      // 1..seconds
  std::int64_t limit = 0;     // kCount: 1..2^53; kDistinct: 1..kMaxNativeDistinct-1
  std::int64_t amount = 1;    // kCount: events this call adds, 0..2^53
  std::uint64_t member = 0;   // kDistinct: the value's 64-bit hash
  bool enforcing = true;      // exceeding it refuses the event
  std::string alert_key;      // 1..kMaxKeyBytes: remembers that the window tripped
};
// Distinct values a native window holds exactly; rules with a larger
// distinct limit use records_update() (a bound on the work one event costs
// the server: a window is read whole).
inline constexpr std::int64_t kMaxNativeDistinct = 512;
inline constexpr std::int64_t kMaxWindowStateSeconds = 31 * kDay;
// Windows one check_and_count() may touch (the same bound as records_update).
inline constexpr std::size_t kMaxNativeWindows = kMaxUpdateKeys;

struct WindowResult {
  std::int64_t count = 0;  // the window's count with this event (kDistinct: with it if new)
  bool exceeded = false;   // count > limit (kDistinct: only when the value is new)
  bool first = false;      // exceeded, and the first trip of this alert_key in `seconds`
};

class WindowCounter {
 public:
  virtual ~WindowCounter() = default;
  // Atomically: computes each window's count with the event at `now`; when
  // no enforcing window is exceeded, counts the event in every window, else
  // in none; and marks each exceeded window's alert_key for `seconds`
  // (first = it was not marked). One result per window, in order.
  // kInvalidArgument (nothing written) for 0 or more than kMaxNativeWindows
  // windows or a spec out of range; kUnavailable when the backend cannot serve.
  virtual Result<std::vector<WindowResult>> check_and_count(std::span<const WindowSpec> windows,
                                                            std::int64_t now) = 0;
};

// ---- several reads at once ----
// The reads one decision needs (the correlator's: the ledger entries of the
// Message-IDs a bounce quotes, the ledger's first time, whether local users
// wrote to the responder), made together: one pipelined round trip on Redis,
// the single calls in turn elsewhere. Each answer is what the single call
// would give.
struct ReadBatch {
  std::vector<std::string> ledger_ids;  // as ledger_get()
  bool ledger_first_time = false;       // as ledger_first_time()
  std::vector<std::pair<std::string, std::string>> correspondents;  // (local, external) as correspondent_last_seen()
  std::vector<LedgerFind> ledger_finds{};  // as ledger_find()
  // The reads it asks for (at most kMaxBatchReads in one read_batch()).
  std::size_t count() const {
    return ledger_ids.size() + ledger_finds.size() + correspondents.size() + (ledger_first_time ? 1 : 0);
  }
};
struct ReadBatchResult {
  std::vector<std::optional<LedgerEntry>> ledger;          // one per ledger id
  std::optional<std::int64_t> first_time;                  // when asked for
  std::vector<std::optional<std::int64_t>> correspondents;  // one per pair
  std::vector<std::vector<LedgerItem>> finds{};            // one per ledger find
};

// Reads started on an event loop's thread whose results arrive later, so
// that the loop never waits on the network (the Redis backend's: one
// connection per loop, store/redis_loop.h).
class AsyncReads {
 public:
  using Done = std::function<void(Result<ReadBatchResult>)>;
  virtual ~AsyncReads() = default;
  // Starts the reads of `batch`, with Store::read_batch()'s answers and
  // errors (at most kMaxBatchReads reads). `done` is called exactly once:
  // on the loop's thread, or on a worker thread when the reads were handed
  // to the store's synchronous path, or before start() returns (a batch
  // refused, or no worker to hand it to). Call start() on the loop's thread.
  virtual void start(ReadBatch batch, Done done) = 0;
};

// Reads in one batch (the correlator asks for a few: a bounce quotes a
// handful of Message-IDs, a message has a few local recipients).
inline constexpr std::size_t kMaxBatchReads = 128;

// Told of every exchange of a remote backend (Redis) with its server, for
// the daemon's metrics. Implementations must be thread-safe, cheap (they run
// on the caller's thread after each round trip) and must not throw.
class RemoteObserver {
 public:
  enum class Result {
    kOk,          // every reply read, none an error reply
    kErrorReply,  // every reply read, one or more of them an error reply
    kFailed,      // I/O failure or timeout: the connection is dropped
  };
  virtual ~RemoteObserver() = default;
  // One round trip: `commands` sent in one pipeline, `seconds` from the
  // first byte written to the last reply read (or the failure).
  virtual void round_trip(std::size_t commands, double seconds, Result result) noexcept = 0;
  // One attempt to open a connection (Sentinel's question included).
  virtual void connect_attempt(bool ok) noexcept = 0;
};

struct Options {
  const Clock* clock = nullptr;  // not owned, outlives the store; null = system_clock()
  // Not owned, outlives the store; null: none. Only remote backends call it.
  RemoteObserver* remote_observer = nullptr;
  std::int64_t ledger_ttl = kDefaultLedgerTtl;
  std::int64_t correspondent_ttl = kDefaultCorrespondentTtl;
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- ledger ----
  // Message-IDs are keys as classify reports them: without the angle brackets
  // ("abc@example.com"), compared byte for byte.
  // Inserts or replaces. kInvalidArgument on an empty or over-long id/address.
  virtual Status ledger_put(std::string_view message_id, const LedgerEntry& entry) = 0;
  // The entry, or nullopt when absent or expired.
  virtual Result<std::optional<LedgerEntry>> ledger_get(std::string_view message_id) = 0;
  // Up to `limit` newest unexpired entries, newest first.
  virtual Result<std::vector<LedgerItem>> ledger_recent(std::size_t limit) = 0;
  // Time of the first entry ever recorded (kept after that entry expires), for
  // the ledger warm-up rule; nullopt before any.
  virtual Result<std::optional<std::int64_t>> ledger_first_time() = 0;
  // Unexpired entries that name `q.value` (a recipient, or the ENVID) and
  // were sent in [q.from, q.to], newest first, at most kMaxLedgerFind.
  // kInvalidArgument for an empty value, one over kMaxAddressBytes
  // (kRecipient) or kMaxEnvidBytes (kEnvid), or a NUL in it.
  virtual Result<std::vector<LedgerItem>> ledger_find(const LedgerFind& q) = 0;

  // ---- correspondents ----
  // Records that `local` wrote to `external` at `time` (last_seen = max).
  virtual Status correspondent_record(std::string_view local, std::string_view external,
                                      std::int64_t time) = 0;
  // Last time `local` wrote to `external`; nullopt if never or expired.
  virtual Result<std::optional<std::int64_t>> correspondent_last_seen(
      std::string_view local, std::string_view external) = 0;
  // Up to `limit` correspondents of `local`, in address order.
  virtual Result<std::vector<Correspondent>> correspondents(std::string_view local,
                                                            std::size_t limit) = 0;

  // ---- counters ----
  // Adds `delta` and returns the new value. A counter whose expiry has passed
  // counts as 0; a counter created by this call gets `expires_at` (a fixed
  // window: later calls do not move it).
  virtual Result<std::int64_t> counter_add(std::string_view key, std::int64_t delta,
                                           std::int64_t expires_at) = 0;
  // Adds `delta` only if value + delta <= limit, atomically; true when added.
  // Under any concurrency exactly floor(limit/delta) calls of a fresh window succeed.
  virtual Result<bool> counter_add_if_below(std::string_view key, std::int64_t delta,
                                            std::int64_t limit, std::int64_t expires_at) = 0;
  // Current value (0 if absent or expired).
  virtual Result<std::int64_t> counter_get(std::string_view key) = 0;

  // ---- records ----
  virtual Status record_put(std::string_view key, std::string_view value,
                            std::int64_t expires_at) = 0;
  virtual Result<std::optional<std::string>> record_get(std::string_view key) = 0;
  virtual Status record_erase(std::string_view key) = 0;
  // Atomic read-modify-write of several records (one transaction; serialised
  // against every other writer, across threads and, for LMDB, processes, for
  // Redis, hosts).
  // kInvalidArgument, with nothing written, for 0 or more than kMaxUpdateKeys
  // keys, a bad key, a change list of the wrong length or an over-long value.
  virtual Status records_update(std::span<const std::string> keys, const RecordUpdateFn& fn) = 0;
  // The backend's own window counting, or null when windows are best kept as
  // records (LMDB and memory: a records_update() costs no round trip there).
  // Owned by the store. Windows kept here and records kept by records_update()
  // are separate state.
  virtual WindowCounter* window_counter() { return nullptr; }
  // The reads of `batch` (see ReadBatch). The first failing read's error;
  // kInvalidArgument for more than kMaxBatchReads reads or a bad id or
  // address. This default makes the single calls in turn.
  virtual Result<ReadBatchResult> read_batch(const ReadBatch& batch);

  // ---- DNSBL listings ----
  // Counts one hit for `ip` (canonicalised; kInvalidArgument if not an IP):
  // creates the listing or updates hits/last_seen/evidence, and sets
  // listed = !allowlisted(ip). Returns the listing after the update.
  virtual Result<Listing> listing_hit(std::string_view ip, const Evidence& evidence) = 0;
  virtual Result<std::optional<Listing>> listing_get(std::string_view ip) = 0;
  // Replaces a listing as given (e.g. listed=false for a manual delisting).
  virtual Status listing_put(const Listing& listing) = 0;
  // All listings, in key order.
  virtual Result<std::vector<Listing>> listing_all() = 0;
  // true if it existed.
  virtual Result<bool> listing_remove(std::string_view ip) = 0;
  // Allowlist of CIDRs ("192.0.2.0/24", "2001:db8::/32", or a bare IP).
  virtual Status allowlist_add(std::string_view cidr) = 0;
  virtual Result<bool> allowlist_remove(std::string_view cidr) = 0;
  virtual Result<std::vector<std::string>> allowlist() = 0;
  virtual Result<bool> allowlisted(std::string_view ip) = 0;

  // ---- maintenance ----
  // Applies all ops atomically in one transaction (the BatchWriter's path).
  virtual Status apply(std::span<const WriteOp> ops) = 0;
  // Visits every unexpired item: ledger entries, the ledger's first time,
  // correspondents, counters, records, listings and allowlist entries, in no
  // promised order. Undecodable records go to
  // visitor.damaged() and the walk continues. A walk the backend cannot
  // finish (LMDB: a damaged page, MDB_CORRUPTED / MDB_PAGE_NOTFOUND; Redis
  // down) is kUnavailable naming the kind it was in; the visitor's own error
  // is returned as is. LMDB walks one read snapshot; Redis walks with SCAN
  // while others may write, so an item changed meanwhile may be seen old or
  // new (never twice).
  virtual Status export_all(ExportVisitor& visitor) = 0;
  // Removes expired ledger entries, correspondents, counters and records; returns
  // how many items were removed.
  virtual Result<std::size_t> purge_expired() = 0;
};

// In-memory backend for tests and `scan`: a mutex around maps.
std::unique_ptr<Store> make_memory_store(Options options = {});

// Reader slots of an LMDB environment (LMDB's default is 126): a read
// transaction takes one, and with MDB_NOTLS every thread of every process
// using the environment may hold one at once: up to 256 milter threads, the
// writers, DNSBL, HTTP and command-line readers. 64 bytes each in lock.mdb.
// Slots of dead processes are freed at open and when the table is full; a
// read that finds every slot held by a live reader fails with kUnavailable.
inline constexpr unsigned kLmdbMaxReaders = 1024;

struct LmdbOptions {
  std::string dir;  // state directory; created (0700) if absent
  // Initial map size; LMDB files are sparse, so this is address space, not disk.
  std::size_t map_size = std::size_t{1} << 30;
  // The map grows (doubling) on MDB_MAP_FULL up to this; beyond, kUnavailable.
  std::size_t max_map_size = std::size_t{64} << 30;
  // fsync each commit (durable across power loss). Off: survives process crashes only.
  bool sync = true;
};

// The files of an LMDB environment in its directory.
inline constexpr std::string_view kLmdbFiles[] = {"data.mdb", "lock.mdb"};

// LMDB backend: one environment in `lmdb.dir` (data.mdb + lock.mdb), named
// sub-databases, MDB_NOTLS; several processes may open the same directory.
// kEnvironment if the directory or environment cannot be opened.
Result<std::unique_ptr<Store>> open_lmdb_store(const LmdbOptions& lmdb, Options options = {});

}  // namespace backstop::store
