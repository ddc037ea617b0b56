// LMDB Store. One environment per state directory; one named sub-database per
// kind of data. Every public call is one transaction. A process-local
// shared_mutex lets the map be grown (which needs no transaction open in this
// process) on MDB_MAP_FULL; another process's growth is picked up on
// MDB_MAP_RESIZED. Cross-process write serialisation is LMDB's own lock file.
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <mutex>
#include <shared_mutex>

#include "common/ip.h"
#include "common/text.h"
#include "store/codec.h"
#include "store/internal.h"
#include "store/store.h"

namespace backstop::store {
namespace {

using namespace internal;

// Sub-databases we open (MDB_env needs the count up front), with headroom.
constexpr unsigned kMaxDbs = 16;
// Purge chunks: deletions per write transaction, and entries looked at per
// transaction of a database scanned in key order. A chunk holds the write
// lock for milliseconds, so outbound commits wait at most that long.
constexpr std::size_t kPurgeChunk = 1000;
constexpr std::size_t kPurgeScan = 10000;
// Index items one ledger_find() looks at: its answers are verified against
// their entries, and a few thousand reads stay well under a millisecond.
constexpr std::size_t kMaxIndexScan = 4096;
constexpr std::string_view kFirstTimeKey = "ledger.first_time";
// Present once the ledger's secondary index ("ledger_keys") holds every
// entry: a state written before the index existed gets it built at open.
constexpr std::string_view kIndexBuiltKey = "ledger.keys_built";
// A file system with less free space than this counts as full when a commit
// fails with EIO or ENOSPC: a commit writes a few 4 KiB pages per database
// it touches.
constexpr std::uint64_t kFullBelow = 1 << 20;

MDB_val val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
std::string_view view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}
bool expired_at(std::int64_t expires_at, std::int64_t now) {
  return expires_at != 0 && expires_at <= now;
}

unexpected<Error> mdb_error(std::string_view what, int rc) {
  return fail(Code::kUnavailable, "lmdb " + std::string(what) + ": " + mdb_strerror(rc));
}

// One transaction's context: remembers MDB_MAP_FULL so the caller can grow and retry.
struct Txn {
  MDB_txn* txn = nullptr;
  bool map_full = false;

  Status check(std::string_view what, int rc) {
    if (rc == MDB_SUCCESS) return {};
    if (rc == MDB_MAP_FULL) map_full = true;
    return mdb_error(what, rc);
  }
  // MDB_SUCCESS with *out set, MDB_NOTFOUND, or an error (returned as Status).
  Result<bool> get(MDB_dbi dbi, std::string_view key, std::string_view* out) {
    MDB_val k = val(key), v{};
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return false;
    BACKSTOP_TRY(check("get", rc));
    *out = view(v);
    return true;
  }
  Status put(MDB_dbi dbi, std::string_view key, std::string_view value) {
    MDB_val k = val(key), v = val(value);
    return check("put", mdb_put(txn, dbi, &k, &v, 0));
  }
  // One key/value pair of an MDB_DUPSORT database.
  Result<bool> del_dup(MDB_dbi dbi, std::string_view key, std::string_view value) {
    MDB_val k = val(key), v = val(value);
    int rc = mdb_del(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return false;
    BACKSTOP_TRY(check("del", rc));
    return true;
  }
  Result<bool> del(MDB_dbi dbi, std::string_view key) {
    MDB_val k = val(key);
    int rc = mdb_del(txn, dbi, &k, nullptr);
    if (rc == MDB_NOTFOUND) return false;
    BACKSTOP_TRY(check("del", rc));
    return true;
  }
};

// A cursor closed on scope exit (before its transaction ends).
class Cursor {
 public:
  Cursor(Txn& t, MDB_dbi dbi) : t_(t) { rc_ = mdb_cursor_open(t.txn, dbi, &c_); }
  ~Cursor() {
    if (c_) mdb_cursor_close(c_);
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  int open_rc() const { return rc_; }
  // true with key/value set, false at the end; errors as Status.
  Result<bool> step(MDB_cursor_op op, std::string_view* key, std::string_view* value,
                    std::string_view seek = {}) {
    MDB_val k = val(seek), v{};
    int rc = mdb_cursor_get(c_, &k, &v, op);
    if (rc == MDB_NOTFOUND) return false;
    BACKSTOP_TRY(t_.check("cursor", rc));
    *key = view(k);
    *value = view(v);
    return true;
  }
  Status del() { return t_.check("cursor del", mdb_cursor_del(c_, 0)); }

 private:
  Txn& t_;
  MDB_cursor* c_ = nullptr;
  int rc_ = 0;
};

#define BACKSTOP_CURSOR(name, txn, dbi)                               \
  Cursor name(txn, dbi);                                              \
  if (name.open_rc() != 0) return mdb_error("cursor", name.open_rc())

// Assigns a Result's value or propagates its error.
#define BACKSTOP_CAT2(a, b) a##b
#define BACKSTOP_CAT(a, b) BACKSTOP_CAT2(a, b)
#define BACKSTOP_ASSIGN(lhs, expr) BACKSTOP_ASSIGN_IMPL(lhs, expr, BACKSTOP_CAT(assign_r_, __COUNTER__))
#define BACKSTOP_ASSIGN_IMPL(lhs, expr, tmp)                      \
  auto tmp = (expr);                                              \
  if (!tmp) return unexpected<Error>(std::move(tmp).error());     \
  lhs = std::move(*tmp)

class LmdbStore final : public Store {
 public:
  LmdbStore(Options o, LmdbOptions l) : opt_(o), lmdb_(std::move(l)), clock_(clock_of(o)) {}
  ~LmdbStore() override {
    if (env_) mdb_env_close(env_);
  }

  Status open() {
    std::error_code ec;
    std::filesystem::path dir(lmdb_.dir);
    if (!std::filesystem::exists(dir, ec)) {
      if (!std::filesystem::create_directories(dir, ec) || ec) {
        return fail(Code::kEnvironment, "cannot create state directory " + lmdb_.dir + ": " + ec.message());
      }
      ::chmod(lmdb_.dir.c_str(), 0700);
    }
    if (!std::filesystem::is_directory(dir, ec)) {
      return fail(Code::kEnvironment, "state path is not a directory: " + lmdb_.dir);
    }
    int rc = mdb_env_create(&env_);
    if (rc == 0) rc = mdb_env_set_maxdbs(env_, kMaxDbs);
    if (rc == 0) rc = mdb_env_set_mapsize(env_, lmdb_.map_size);
    if (rc == 0) rc = mdb_env_set_maxreaders(env_, kLmdbMaxReaders);
    unsigned flags = MDB_NOTLS | (lmdb_.sync ? 0u : MDB_NOSYNC);
    if (rc == 0) rc = mdb_env_open(env_, lmdb_.dir.c_str(), flags, 0600);
    if (rc != 0) {
      return fail(Code::kEnvironment, "cannot open LMDB in " + lmdb_.dir + ": " + mdb_strerror(rc));
    }
    // Slots of readers that died (a killed process) are freed now, not
    // when the table fills.
    int dead = 0;
    mdb_reader_check(env_, &dead);
    MDB_envinfo info{};
    mdb_env_info(env_, &info);
    map_size_ = info.me_mapsize;
    return write([&](Txn& t) -> Status {
      const std::pair<const char*, MDB_dbi*> dbs[] = {
          {"ledger", &ledger_}, {"ledger_by_time", &by_time_}, {"meta", &meta_},
          {"correspondents", &corr_}, {"counters", &counters_}, {"records", &records_},
          {"listings", &listings_}, {"allowlist", &allow_}};
      for (auto [name, dbi] : dbs) {
        BACKSTOP_TRY(t.check("dbi open", mdb_dbi_open(t.txn, name, MDB_CREATE, dbi)));
      }
      BACKSTOP_TRY(t.check("dbi open", mdb_dbi_open(t.txn, "ledger_keys", MDB_CREATE | MDB_DUPSORT, &keys_)));
      return build_index(t);
    });
  }

  // ---- ledger ----
  Status ledger_put(std::string_view id, const LedgerEntry& e) override {
    BACKSTOP_TRY(check_message_id(id));
    BACKSTOP_TRY(check_ledger_entry(e));
    return write([&](Txn& t) { return put_ledger(t, id, e); });
  }
  Result<std::optional<LedgerEntry>> ledger_get(std::string_view id) override {
    BACKSTOP_TRY(check_message_id(id));
    return read<std::optional<LedgerEntry>>([&](Txn& t) -> Result<std::optional<LedgerEntry>> {
      std::string_view bytes;
      bool found = false;
      BACKSTOP_ASSIGN(found, t.get(ledger_, id, &bytes));
      if (!found) return std::optional<LedgerEntry>();
      auto e = codec::decode_ledger(bytes);
      if (!e) return unexpected<Error>(std::move(e).error());
      if (ledger_expired(e->time)) return std::optional<LedgerEntry>();
      return std::optional<LedgerEntry>(std::move(*e));
    });
  }
  Result<std::vector<LedgerItem>> ledger_recent(std::size_t limit) override {
    return read<std::vector<LedgerItem>>([&](Txn& t) -> Result<std::vector<LedgerItem>> {
      std::vector<LedgerItem> out;
      BACKSTOP_CURSOR(c, t, by_time_);
      std::string_view k, v;
      bool more = false;
      BACKSTOP_ASSIGN(more, c.step(MDB_LAST, &k, &v));
      while (more && out.size() < limit) {
        std::int64_t time = 0;
        std::string_view id;
        if (!codec::split_time_key(k, &time, &id)) return fail(Code::kMalformed, "damaged ledger index");
        if (ledger_expired(time)) break;
        std::string_view bytes;
        bool found = false;
        BACKSTOP_ASSIGN(found, t.get(ledger_, id, &bytes));
        if (found) {
          auto e = codec::decode_ledger(bytes);
          if (!e) return unexpected<Error>(std::move(e).error());
          out.push_back({std::string(id), std::move(*e)});
        }
        BACKSTOP_ASSIGN(more, c.step(MDB_PREV, &k, &v));
      }
      return out;
    });
  }
  Result<std::optional<std::int64_t>> ledger_first_time() override {
    return read<std::optional<std::int64_t>>([&](Txn& t) -> Result<std::optional<std::int64_t>> {
      std::string_view bytes;
      bool found = false;
      BACKSTOP_ASSIGN(found, t.get(meta_, kFirstTimeKey, &bytes));
      if (!found) return std::optional<std::int64_t>();
      auto c = codec::decode_counter(bytes);
      if (!c) return unexpected<Error>(std::move(c).error());
      return std::optional<std::int64_t>(c->value);
    });
  }

  // Index items of a value are keyed value NUL time (8 bytes, time_key
  // order) with the Message-ID as the duplicate's data, so a window is a
  // key range; read newest first.
  Result<std::vector<LedgerItem>> ledger_find(const LedgerFind& q) override {
    BACKSTOP_TRY(check_ledger_find(q));
    return read<std::vector<LedgerItem>>([&](Txn& t) -> Result<std::vector<LedgerItem>> {
      std::vector<LedgerItem> out;
      if (q.from > q.to) return out;
      const std::string prefix = ledger_index_value(q) + std::string(1, '\0');
      BACKSTOP_CURSOR(c, t, keys_);
      std::string_view k, v;
      bool more = false;
      if (q.to < INT64_MAX) {
        BACKSTOP_ASSIGN(more, c.step(MDB_SET_RANGE, &k, &v, codec::time_key(q.to + 1, {}).insert(0, prefix)));
        if (more) {
          BACKSTOP_ASSIGN(more, c.step(MDB_PREV, &k, &v));
        } else {
          BACKSTOP_ASSIGN(more, c.step(MDB_LAST, &k, &v));
        }
      } else {
        BACKSTOP_ASSIGN(more, c.step(MDB_LAST, &k, &v));
      }
      std::size_t scanned = 0;
      while (more && out.size() < kMaxLedgerFind && scanned++ < kMaxIndexScan) {
        std::int64_t time = 0;
        std::string_view rest;
        if (!k.starts_with(prefix) || !codec::split_time_key(k.substr(prefix.size()), &time, &rest) ||
            !rest.empty() || time < q.from || ledger_expired(time)) {
          break;
        }
        std::string_view bytes;
        bool found = false;
        BACKSTOP_ASSIGN(found, t.get(ledger_, v, &bytes));
        if (found) {
          auto e = codec::decode_ledger(bytes);
          if (e && ledger_answers(*e, q)) out.push_back({std::string(v), std::move(*e)});
        }
        BACKSTOP_ASSIGN(more, c.step(MDB_PREV, &k, &v));
      }
      return out;
    });
  }

  // ---- correspondents ----
  Status correspondent_record(std::string_view local, std::string_view external,
                              std::int64_t time) override {
    BACKSTOP_TRY(check_correspondent(local, external));
    return write([&](Txn& t) { return record_correspondent(t, local, external, time); });
  }
  Result<std::optional<std::int64_t>> correspondent_last_seen(std::string_view local,
                                                              std::string_view external) override {
    BACKSTOP_TRY(check_correspondent(local, external));
    return read<std::optional<std::int64_t>>([&](Txn& t) -> Result<std::optional<std::int64_t>> {
      std::optional<std::int64_t> last;
      BACKSTOP_ASSIGN(last, correspondent_time(t, correspondent_key(local, external)));
      if (last && corr_expired(*last)) last.reset();
      return last;
    });
  }
  Result<std::vector<Correspondent>> correspondents(std::string_view local,
                                                    std::size_t limit) override {
    BACKSTOP_TRY(check_address("local address", local));
    const std::string prefix = correspondent_key(local, "");
    return read<std::vector<Correspondent>>([&](Txn& t) -> Result<std::vector<Correspondent>> {
      std::vector<Correspondent> out;
      BACKSTOP_CURSOR(c, t, corr_);
      std::string_view k, v;
      bool more = false;
      BACKSTOP_ASSIGN(more, c.step(MDB_SET_RANGE, &k, &v, prefix));
      while (more && k.starts_with(prefix) && out.size() < limit) {
        auto last = codec::decode_counter(v);
        if (!last) return unexpected<Error>(std::move(last).error());
        if (!corr_expired(last->value)) out.push_back({std::string(k.substr(prefix.size())), last->value});
        BACKSTOP_ASSIGN(more, c.step(MDB_NEXT, &k, &v));
      }
      return out;
    });
  }

  // ---- counters ----
  Result<std::int64_t> counter_add(std::string_view key, std::int64_t delta,
                                   std::int64_t expires_at) override {
    BACKSTOP_TRY(check_key(key));
    std::int64_t result = 0;
    if (Status w = write([&](Txn& t) -> Status {
      codec::Counter c;
      BACKSTOP_ASSIGN(c, live_counter(t, key, expires_at));
      c.value += delta;
      result = c.value;
      return t.put(counters_, key, codec::encode_counter(c));
    }); !w) return unexpected<Error>(std::move(w).error());
    return result;
  }
  Result<bool> counter_add_if_below(std::string_view key, std::int64_t delta, std::int64_t limit,
                                    std::int64_t expires_at) override {
    BACKSTOP_TRY(check_key(key));
    bool added = false;
    if (Status w = write([&](Txn& t) -> Status {
      codec::Counter c;
      BACKSTOP_ASSIGN(c, live_counter(t, key, expires_at));
      added = c.value + delta <= limit;
      if (!added) return {};
      c.value += delta;
      return t.put(counters_, key, codec::encode_counter(c));
    }); !w) return unexpected<Error>(std::move(w).error());
    return added;
  }
  Result<std::int64_t> counter_get(std::string_view key) override {
    BACKSTOP_TRY(check_key(key));
    return read<std::int64_t>([&](Txn& t) -> Result<std::int64_t> {
      std::string_view bytes;
      bool found = false;
      BACKSTOP_ASSIGN(found, t.get(counters_, key, &bytes));
      if (!found) return std::int64_t{0};
      auto c = codec::decode_counter(bytes);
      if (!c) return unexpected<Error>(std::move(c).error());
      return expired_at(c->expires_at, now()) ? 0 : c->value;
    });
  }

  // ---- records ----
  Status record_put(std::string_view key, std::string_view value, std::int64_t expires_at) override {
    BACKSTOP_TRY(check_record(key, value));
    return write([&](Txn& t) { return t.put(records_, key, codec::encode_record(expires_at, value)); });
  }
  Result<std::optional<std::string>> record_get(std::string_view key) override {
    BACKSTOP_TRY(check_key(key));
    return read<std::optional<std::string>>([&](Txn& t) -> Result<std::optional<std::string>> {
      std::string_view bytes;
      bool found = false;
      BACKSTOP_ASSIGN(found, t.get(records_, key, &bytes));
      if (!found) return std::optional<std::string>();
      auto r = codec::decode_record(bytes);
      if (!r) return unexpected<Error>(std::move(r).error());
      if (expired_at(r->expires_at, now())) return std::optional<std::string>();
      return std::optional<std::string>(std::move(r->value));
    });
  }
  Status records_update(std::span<const std::string> keys, const RecordUpdateFn& fn) override {
    BACKSTOP_TRY(check_update_keys(keys));
    return write([&](Txn& t) -> Status {
      std::vector<std::optional<std::string>> current;
      current.reserve(keys.size());
      for (const auto& k : keys) {
        std::string_view bytes;
        bool found = false;
        BACKSTOP_ASSIGN(found, t.get(records_, k, &bytes));
        if (!found) {
          current.emplace_back();
          continue;
        }
        auto r = codec::decode_record(bytes);
        if (!r) return unexpected<Error>(std::move(r).error());
        if (expired_at(r->expires_at, now())) current.emplace_back();
        else current.emplace_back(std::move(r->value));
      }
      std::vector<RecordChange> changes = fn(current);
      BACKSTOP_TRY(check_update_changes(keys, changes));
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (changes[i].op == RecordChange::Op::kPut) {
          BACKSTOP_TRY(t.put(records_, keys[i], codec::encode_record(changes[i].expires_at, changes[i].value)));
        } else if (changes[i].op == RecordChange::Op::kErase) {
          auto r = t.del(records_, keys[i]);
          if (!r) return unexpected<Error>(std::move(r).error());
        }
      }
      return {};
    });
  }
  Status record_erase(std::string_view key) override {
    BACKSTOP_TRY(check_key(key));
    return write([&](Txn& t) -> Status {
      auto r = t.del(records_, key);
      if (!r) return unexpected<Error>(std::move(r).error());
      return {};
    });
  }

  // ---- listings ----
  Result<Listing> listing_hit(std::string_view ip, const Evidence& e) override {
    auto addr = ip::parse(ip);
    if (!addr) return unexpected<Error>(std::move(addr).error());
    BACKSTOP_TRY(check_evidence(e));
    Listing out;
    if (Status w = write([&](Txn& t) -> Status {
      BACKSTOP_ASSIGN(out, hit(t, *addr, e));
      return {};
    }); !w) return unexpected<Error>(std::move(w).error());
    return out;
  }
  Result<std::optional<Listing>> listing_get(std::string_view ip) override {
    auto key = ip::canonical(ip);
    if (!key) return unexpected<Error>(std::move(key).error());
    return read<std::optional<Listing>>([&](Txn& t) { return get_listing(t, *key); });
  }
  Status listing_put(const Listing& l) override {
    auto key = ip::canonical(l.ip);
    if (!key) return unexpected<Error>(std::move(key).error());
    Listing copy = l;
    copy.ip = *key;
    return write([&](Txn& t) { return t.put(listings_, *key, codec::encode_listing(copy)); });
  }
  Result<std::vector<Listing>> listing_all() override {
    return read<std::vector<Listing>>([&](Txn& t) -> Result<std::vector<Listing>> {
      std::vector<Listing> out;
      BACKSTOP_CURSOR(c, t, listings_);
      std::string_view k, v;
      bool more = false;
      BACKSTOP_ASSIGN(more, c.step(MDB_FIRST, &k, &v));
      while (more) {
        auto l = codec::decode_listing(v);
        if (!l) return unexpected<Error>(std::move(l).error());
        out.push_back(std::move(*l));
        BACKSTOP_ASSIGN(more, c.step(MDB_NEXT, &k, &v));
      }
      return out;
    });
  }
  Result<bool> listing_remove(std::string_view ip) override {
    auto key = ip::canonical(ip);
    if (!key) return unexpected<Error>(std::move(key).error());
    bool removed = false;
    if (Status w = write([&](Txn& t) -> Status {
      BACKSTOP_ASSIGN(removed, t.del(listings_, *key));
      return {};
    }); !w) return unexpected<Error>(std::move(w).error());
    return removed;
  }
  Status allowlist_add(std::string_view cidr) override {
    auto c = ip::parse_network(cidr);
    if (!c) return unexpected<Error>(std::move(c).error());
    return write([&](Txn& t) { return t.put(allow_, ip::to_string(*c), ""); });
  }
  Result<bool> allowlist_remove(std::string_view cidr) override {
    auto c = ip::parse_network(cidr);
    if (!c) return unexpected<Error>(std::move(c).error());
    bool removed = false;
    if (Status w = write([&](Txn& t) -> Status {
      BACKSTOP_ASSIGN(removed, t.del(allow_, ip::to_string(*c)));
      return {};
    }); !w) return unexpected<Error>(std::move(w).error());
    return removed;
  }
  Result<std::vector<std::string>> allowlist() override {
    return read<std::vector<std::string>>([&](Txn& t) -> Result<std::vector<std::string>> {
      std::vector<std::string> out;
      BACKSTOP_CURSOR(c, t, allow_);
      std::string_view k, v;
      bool more = false;
      BACKSTOP_ASSIGN(more, c.step(MDB_FIRST, &k, &v));
      while (more) {
        out.emplace_back(k);
        BACKSTOP_ASSIGN(more, c.step(MDB_NEXT, &k, &v));
      }
      return out;
    });
  }
  Result<bool> allowlisted(std::string_view ip) override {
    auto addr = ip::parse(ip);
    if (!addr) return unexpected<Error>(std::move(addr).error());
    return read<bool>([&](Txn& t) { return is_allowlisted(t, *addr); });
  }

  // ---- maintenance ----
  Status apply(std::span<const WriteOp> ops) override {
    for (const auto& op : ops) BACKSTOP_TRY(check_op(op));
    return write([&](Txn& t) -> Status {
      for (const auto& op : ops) BACKSTOP_TRY(apply_op(t, op));
      return {};
    });
  }

  // One read snapshot for the whole walk.
  Status export_all(ExportVisitor& visitor) override {
    auto r = read<bool>([&](Txn& t) -> Result<bool> {
      BACKSTOP_TRY(export_in(t, visitor));
      return true;
    });
    if (!r) return unexpected<Error>(std::move(r).error());
    return {};
  }

  // In chunks of at most kPurgeChunk deletions (kPurgeScan entries looked
  // at), each its own write transaction: the BatchWriter's commits (the
  // outbound ledger among them) interleave instead of waiting for one long
  // transaction over every expired item.
  Result<std::size_t> purge_expired() override {
    std::size_t removed = 0;
    auto chunks = [&](auto&& one) -> Status {
      std::string resume;
      bool done = false;
      while (!done) {
        BACKSTOP_TRY(write([&](Txn& t) -> Status { return one(t, &resume, &done); }));
      }
      return {};
    };
    BACKSTOP_TRY(chunks([&](Txn& t, std::string*, bool* done) { return purge_ledger(t, &removed, done); }));
    auto counter_expired = [&](std::string_view v) -> Result<bool> {
      auto c = codec::decode_counter(v);
      if (!c) return unexpected<Error>(std::move(c).error());
      return expired_at(c->expires_at, now());
    };
    BACKSTOP_TRY(chunks([&](Txn& t, std::string* resume, bool* done) {
      return purge_db(t, corr_, &removed, resume, done, [&](std::string_view v) -> Result<bool> {
        auto c = codec::decode_counter(v);
        if (!c) return unexpected<Error>(std::move(c).error());
        return corr_expired(c->value);
      });
    }));
    BACKSTOP_TRY(chunks([&](Txn& t, std::string* resume, bool* done) {
      return purge_db(t, counters_, &removed, resume, done, counter_expired);
    }));
    BACKSTOP_TRY(chunks([&](Txn& t, std::string* resume, bool* done) {
      return purge_db(t, records_, &removed, resume, done, [&](std::string_view v) -> Result<bool> {
        auto r = codec::decode_record(v);
        if (!r) return unexpected<Error>(std::move(r).error());
        return expired_at(r->expires_at, now());
      });
    }));
    return removed;
  }

 private:
  std::int64_t now() const { return clock_.now_unix(); }
  bool ledger_expired(std::int64_t time) const { return time + opt_.ledger_ttl <= now(); }
  bool corr_expired(std::int64_t last) const { return last + opt_.correspondent_ttl <= now(); }

  // Begins a transaction, adopting a map grown by another process.
  Status begin(Txn& t, unsigned flags, std::shared_lock<std::shared_mutex>& lock) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      int rc = mdb_txn_begin(env_, nullptr, flags, &t.txn);
      if (rc == MDB_SUCCESS) return {};
      if (rc == MDB_READERS_FULL && attempt == 0) {
        int dead = 0;  // free the slots of dead readers, then try once more
        if (mdb_reader_check(env_, &dead) == 0 && dead > 0) continue;
      }
      if (rc != MDB_MAP_RESIZED || attempt > 0) return mdb_error("txn begin", rc);
      lock.unlock();
      {
        std::unique_lock grow(resize_mu_);
        mdb_env_set_mapsize(env_, 0);
        MDB_envinfo info{};
        mdb_env_info(env_, &info);
        map_size_ = info.me_mapsize;
      }
      lock.lock();
    }
    return fail(Code::kUnavailable, "lmdb txn begin");
  }

  template <class T, class F>
  Result<T> read(F&& f) {
    std::shared_lock lock(resize_mu_);
    Txn t;
    BACKSTOP_TRY(begin(t, MDB_RDONLY, lock));
    auto r = f(t);
    mdb_txn_abort(t.txn);
    return r;
  }

  // Runs f in a write transaction and commits; on MDB_MAP_FULL grows the map
  // (doubling, up to max_map_size) and runs f again.
  template <class F>
  Status write(F&& f) {
    for (;;) {
      std::size_t seen_size = 0;
      {
        std::shared_lock lock(resize_mu_);
        seen_size = map_size_;
        Txn t;
        BACKSTOP_TRY(begin(t, 0, lock));
        Status s = f(t);
        if (s) {
          int rc = mdb_txn_commit(t.txn);
          if (rc == MDB_SUCCESS) return {};
          if (rc != MDB_MAP_FULL) return commit_error(rc);
          t.map_full = true;
        } else {
          mdb_txn_abort(t.txn);
          if (!t.map_full) return s;
        }
      }
      BACKSTOP_TRY(grow(seen_size));
    }
  }

  // A failed commit's error. LMDB reports a short write as EIO, so on a full
  // file system "Input/output error" alone would point at the hardware: the
  // message then says that the file system is full.
  unexpected<Error> commit_error(int rc) const {
    auto e = mdb_error("commit", rc);
    struct statvfs st {};
    if ((rc == EIO || rc == ENOSPC) && ::statvfs(lmdb_.dir.c_str(), &st) == 0) {
      const std::uint64_t free = std::uint64_t{st.f_bavail} * st.f_frsize;
      if (free < kFullBelow) {
        return fail(Code::kUnavailable, e.error().message() + " (the file system holding " + lmdb_.dir +
                                            " is full: " + std::to_string(free) + " bytes free)");
      }
    }
    return e;
  }

  Status grow(std::size_t seen_size) {
    std::unique_lock lock(resize_mu_);
    if (map_size_ != seen_size) return {};  // another thread grew it already
    if (map_size_ >= lmdb_.max_map_size) {
      return fail(Code::kUnavailable, "LMDB map full at " + std::to_string(map_size_) +
                                          " bytes (raise the store's max map size)");
    }
    std::size_t next = std::min(map_size_ * 2, lmdb_.max_map_size);
    int rc = mdb_env_set_mapsize(env_, next);
    if (rc != 0) return mdb_error("set mapsize", rc);
    map_size_ = next;
    return {};
  }

  Status put_ledger(Txn& t, std::string_view id, const LedgerEntry& e) {
    std::string_view old;
    bool found = false;
    BACKSTOP_ASSIGN(found, t.get(ledger_, id, &old));
    if (found) {
      auto prev = codec::decode_ledger(old);
      if (prev) {
        BACKSTOP_TRY(t.del(by_time_, codec::time_key(prev->time, id)));
        BACKSTOP_TRY(unindex(t, id, *prev));
      }
    }
    BACKSTOP_TRY(t.put(ledger_, id, codec::encode_ledger(e)));
    BACKSTOP_TRY(t.put(by_time_, codec::time_key(e.time, id), ""));
    BACKSTOP_TRY(index(t, id, e));
    return keep_first_time(t, e.time);
  }

  // The secondary index items of entry `id`.
  Status index(Txn& t, std::string_view id, const LedgerEntry& e) {
    for (const auto& value : ledger_index_values(e)) {
      BACKSTOP_TRY(t.put(keys_, codec::time_key(e.time, {}).insert(0, value + std::string(1, '\0')), id));
    }
    return {};
  }
  Status unindex(Txn& t, std::string_view id, const LedgerEntry& e) {
    for (const auto& value : ledger_index_values(e)) {
      auto d = t.del_dup(keys_, codec::time_key(e.time, {}).insert(0, value + std::string(1, '\0')), id);
      if (!d) return unexpected<Error>(std::move(d).error());
    }
    return {};
  }

  // Builds the secondary index from every entry, once (a state written
  // before it existed); undecodable entries are left to export and purge.
  Status build_index(Txn& t) {
    std::string_view flag;
    bool built = false;
    BACKSTOP_ASSIGN(built, t.get(meta_, kIndexBuiltKey, &flag));
    if (built) return {};
    BACKSTOP_CURSOR(c, t, ledger_);
    std::string_view k, v;
    bool more = false;
    BACKSTOP_ASSIGN(more, c.step(MDB_FIRST, &k, &v));
    while (more) {
      if (auto e = codec::decode_ledger(v)) BACKSTOP_TRY(index(t, std::string(k), *e));
      BACKSTOP_ASSIGN(more, c.step(MDB_NEXT, &k, &v));
    }
    return t.put(meta_, kIndexBuiltKey, "1");
  }

  // The ledger's first time becomes min(stored, time); a damaged one is replaced.
  Status keep_first_time(Txn& t, std::int64_t time) {
    std::string_view first;
    bool found = false;
    BACKSTOP_ASSIGN(found, t.get(meta_, kFirstTimeKey, &first));
    if (found) {
      auto c = codec::decode_counter(first);
      if (c && c->value <= time) return {};
    }
    return t.put(meta_, kFirstTimeKey, codec::encode_counter({time, 0}));
  }

  // Walks `dbi` in key order, calling one(key, value) for each entry; a
  // cursor failure, or keys out of order (a page of garbage taken for a
  // leaf), is kUnavailable naming `what` and the last key read. LMDB 0.9.24
  // aborts the process on an assertion when the walk reaches a page that is
  // not a leaf (a zeroed page): LmdbDamage.* and docs/reliability.md.
  template <class F>
  Status walk(Txn& t, MDB_dbi dbi, std::string_view what, F&& one) {
    std::string last;
    auto wrap = [&](const std::string& why) {
      return fail(Code::kUnavailable, "export " + std::string(what) + ": " + why +
                                          (last.empty() ? "" : " (after key " + text::log_safe(last) + ")"));
    };
    Cursor c(t, dbi);
    if (c.open_rc() != 0) return wrap(mdb_error("cursor", c.open_rc()).error().message());
    std::string_view k, v;
    bool first = true;
    auto more = c.step(MDB_FIRST, &k, &v);
    while (more && *more) {
      if (!first && k <= std::string_view(last)) return wrap("keys out of order (a damaged page)");
      first = false;
      BACKSTOP_TRY(one(k, v));
      last.assign(k);
      more = c.step(MDB_NEXT, &k, &v);
    }
    if (!more) return wrap(more.error().message());
    return {};
  }

  // The ledger's keys are derived (never exported, a LedgerPut rebuilds
  // them) but walked all the same, so that damage there is named: each item
  // must be a value, NUL, a time, with the Message-ID of an entry of that
  // time. Items (key, then duplicate) must come in order.
  Status walk_keys(Txn& t, ExportVisitor& visitor) {
    const auto broken = [](const std::string& why) { return fail(Code::kUnavailable, "export ledger keys: " + why); };
    Cursor c(t, keys_);
    if (c.open_rc() != 0) return broken(mdb_error("cursor", c.open_rc()).error().message());
    std::string last_k, last_v;
    bool first = true;
    std::string_view k, v;
    auto more = c.step(MDB_FIRST, &k, &v);
    while (more && *more) {
      if (!first && (k < std::string_view(last_k) || (k == std::string_view(last_k) && v <= std::string_view(last_v)))) {
        return broken("keys out of order (a damaged page) (after key " + text::log_safe(last_k) + ")");
      }
      first = false;
      const auto nul = k.find('\0');
      std::int64_t time = 0;
      std::string_view rest;
      if (nul == std::string_view::npos || !codec::split_time_key(k.substr(nul + 1), &time, &rest) || !rest.empty()) {
        visitor.damaged("ledger keys", k, "not a value, NUL and a time");
      } else {
        std::string_view bytes;
        auto found = t.get(ledger_, v, &bytes);
        if (!found) return broken(found.error().message());
        auto e = *found ? codec::decode_ledger(bytes) : Result<LedgerEntry>(LedgerEntry{});
        if (!*found || (e && e->time != time)) visitor.damaged("ledger keys", v, "no ledger entry of that time");
      }
      last_k.assign(k);
      last_v.assign(v);
      more = c.step(MDB_NEXT, &k, &v);
    }
    if (!more) return broken(more.error().message());
    return {};
  }

  Status export_in(Txn& t, ExportVisitor& visitor) {
    const auto damaged = [&](std::string_view what, std::string_view key, const Error& e) {
      visitor.damaged(what, key, e.message());
    };
    BACKSTOP_TRY(walk(t, ledger_, "ledger", [&](std::string_view k, std::string_view v) -> Status {
      auto e = codec::decode_ledger(v);
      if (!e) {
        damaged("ledger", k, e.error());
        return {};
      }
      if (ledger_expired(e->time)) return {};
      return visitor.item(LedgerPut{std::string(k), std::move(*e)});
    }));
    // The time index serves ledger_recent() and the purge: each key must be
    // a time and an id whose entry has that time.
    BACKSTOP_TRY(walk(t, by_time_, "ledger index", [&](std::string_view k, std::string_view) -> Status {
      std::int64_t time = 0;
      std::string_view id;
      if (!codec::split_time_key(k, &time, &id)) {
        damaged("ledger index", k, Error(Code::kMalformed, "key shorter than a time"));
        return {};
      }
      std::string_view bytes;
      auto found = t.get(ledger_, id, &bytes);
      if (!found) return fail(Code::kUnavailable, "export ledger index: " + found.error().message());
      auto e = *found ? codec::decode_ledger(bytes) : Result<LedgerEntry>(LedgerEntry{});
      if (!*found || (e && e->time != time)) {
        damaged("ledger index", id, Error(Code::kMalformed, "no ledger entry of that time"));
      }
      return {};
    }));
    BACKSTOP_TRY(walk_keys(t, visitor));
    {
      std::string_view bytes;
      auto found = t.get(meta_, kFirstTimeKey, &bytes);
      if (!found) return fail(Code::kUnavailable, "export ledger first time: " + found.error().message());
      if (*found) {
        auto c = codec::decode_counter(bytes);
        if (!c) damaged("ledger first time", kFirstTimeKey, c.error());
        else BACKSTOP_TRY(visitor.item(LedgerFirstTime{c->value}));
      }
    }
    BACKSTOP_TRY(walk(t, corr_, "correspondents", [&](std::string_view k, std::string_view v) -> Status {
      const auto nul = k.find('\0');
      auto c = codec::decode_counter(v);
      if (nul == std::string_view::npos) {
        damaged("correspondent", k, Error(Code::kMalformed, "key without a local part"));
        return {};
      }
      if (!c) {
        damaged("correspondent", k, c.error());
        return {};
      }
      if (corr_expired(c->value)) return {};
      return visitor.item(CorrespondentSeen{std::string(k.substr(0, nul)), std::string(k.substr(nul + 1)), c->value});
    }));
    BACKSTOP_TRY(walk(t, counters_, "counters", [&](std::string_view k, std::string_view v) -> Status {
      auto c = codec::decode_counter(v);
      if (!c) {
        damaged("counter", k, c.error());
        return {};
      }
      if (expired_at(c->expires_at, now())) return {};
      return visitor.item(CounterPut{std::string(k), c->value, c->expires_at});
    }));
    BACKSTOP_TRY(walk(t, records_, "records", [&](std::string_view k, std::string_view v) -> Status {
      auto r = codec::decode_record(v);
      if (!r) {
        damaged("record", k, r.error());
        return {};
      }
      if (expired_at(r->expires_at, now())) return {};
      return visitor.item(RecordPut{std::string(k), std::move(r->value), r->expires_at});
    }));
    BACKSTOP_TRY(walk(t, listings_, "listings", [&](std::string_view k, std::string_view v) -> Status {
      auto l = codec::decode_listing(v);
      if (!l) {
        damaged("listing", k, l.error());
        return {};
      }
      if (l->ip != k) {
        damaged("listing", k, Error(Code::kMalformed, "stored under another address"));
        return {};
      }
      return visitor.item(ListingPut{std::move(*l)});
    }));
    return walk(t, allow_, "allowlist", [&](std::string_view k, std::string_view) -> Status {
      auto c = ip::parse_network(k);
      if (!c || ip::to_string(*c) != k) {
        damaged("allowlist", k, Error(Code::kMalformed, "not a canonical CIDR"));
        return {};
      }
      return visitor.item(AllowlistAdd{std::string(k)});
    });
  }

  Result<std::optional<std::int64_t>> correspondent_time(Txn& t, std::string_view key) {
    std::string_view bytes;
    bool found = false;
    BACKSTOP_ASSIGN(found, t.get(corr_, key, &bytes));
    if (!found) return std::optional<std::int64_t>();
    auto c = codec::decode_counter(bytes);
    if (!c) return unexpected<Error>(std::move(c).error());
    return std::optional<std::int64_t>(c->value);
  }

  Status record_correspondent(Txn& t, std::string_view local, std::string_view external,
                              std::int64_t time) {
    const std::string key = correspondent_key(local, external);
    auto last = correspondent_time(t, key);
    if (last && *last && **last >= time) return {};
    return t.put(corr_, key, codec::encode_counter({time, 0}));
  }

  Result<codec::Counter> live_counter(Txn& t, std::string_view key, std::int64_t expires_at) {
    std::string_view bytes;
    bool found = false;
    BACKSTOP_ASSIGN(found, t.get(counters_, key, &bytes));
    if (!found) return codec::Counter{0, expires_at};
    auto c = codec::decode_counter(bytes);
    // A damaged counter restarts its window rather than blocking the key forever.
    if (!c || expired_at(c->expires_at, now())) return codec::Counter{0, expires_at};
    return *c;
  }

  Result<std::optional<Listing>> get_listing(Txn& t, std::string_view key) {
    std::string_view bytes;
    bool found = false;
    BACKSTOP_ASSIGN(found, t.get(listings_, key, &bytes));
    if (!found) return std::optional<Listing>();
    auto l = codec::decode_listing(bytes);
    if (!l) return unexpected<Error>(std::move(l).error());
    return std::optional<Listing>(std::move(*l));
  }

  Result<bool> is_allowlisted(Txn& t, const ip::Address& ip) {
    BACKSTOP_CURSOR(c, t, allow_);
    std::string_view k, v;
    bool more = false;
    BACKSTOP_ASSIGN(more, c.step(MDB_FIRST, &k, &v));
    while (more) {
      auto cidr = ip::parse_network(k);
      if (cidr && ip::contains(*cidr, ip)) return true;
      BACKSTOP_ASSIGN(more, c.step(MDB_NEXT, &k, &v));
    }
    return false;
  }

  Result<Listing> hit(Txn& t, const ip::Address& ip, const Evidence& e) {
    const std::string key = ip::to_string(ip);
    std::optional<Listing> existing;
    BACKSTOP_ASSIGN(existing, get_listing(t, key));
    Listing l = existing.value_or(Listing{});
    l.ip = key;
    bool allowed = false;
    BACKSTOP_ASSIGN(allowed, is_allowlisted(t, ip));
    apply_hit(l, e, allowed);
    BACKSTOP_TRY(t.put(listings_, key, codec::encode_listing(l)));
    return l;
  }

  Status apply_op(Txn& t, const WriteOp& op) {
    if (auto* p = std::get_if<LedgerPut>(&op)) return put_ledger(t, p->message_id, p->entry);
    if (auto* c = std::get_if<CorrespondentSeen>(&op)) {
      return record_correspondent(t, c->local, c->external, c->time);
    }
    if (auto* r = std::get_if<RecordPut>(&op)) {
      return t.put(records_, r->key, codec::encode_record(r->expires_at, r->value));
    }
    if (auto* e = std::get_if<RecordErase>(&op)) {
      auto d = t.del(records_, e->key);
      if (!d) return unexpected<Error>(std::move(d).error());
      return {};
    }
    if (auto* f = std::get_if<LedgerFirstTime>(&op)) return keep_first_time(t, f->time);
    if (auto* n = std::get_if<CounterPut>(&op)) {
      return t.put(counters_, n->key, codec::encode_counter({n->value, n->expires_at}));
    }
    if (auto* l = std::get_if<ListingPut>(&op)) {
      Listing copy = l->listing;
      auto key = ip::canonical(copy.ip);
      if (!key) return unexpected<Error>(std::move(key).error());
      copy.ip = *key;
      return t.put(listings_, *key, codec::encode_listing(copy));
    }
    if (auto* a = std::get_if<AllowlistAdd>(&op)) {
      auto c = ip::parse_network(a->cidr);
      if (!c) return unexpected<Error>(std::move(c).error());
      return t.put(allow_, ip::to_string(*c), "");
    }
    if (auto* ap = std::get_if<RecordAppend>(&op)) {
      std::string_view bytes;
      bool found = false;
      BACKSTOP_ASSIGN(found, t.get(records_, ap->key, &bytes));
      std::optional<std::string> current;
      if (found) {
        auto r = codec::decode_record(bytes);
        if (r && !expired_at(r->expires_at, now())) current = std::move(r->value);
      }
      return t.put(records_, ap->key, codec::encode_record(ap->expires_at, append_item(current, *ap)));
    }
    const auto& h = std::get<ListingHit>(op);
    auto addr = ip::parse(h.ip);
    if (!addr) return unexpected<Error>(std::move(addr).error());
    auto l = hit(t, *addr, h.evidence);
    if (!l) return unexpected<Error>(std::move(l).error());
    return {};
  }

  // Deletes expired ledger entries, oldest first, at most kPurgeChunk;
  // *done once no expired entry is left.
  Status purge_ledger(Txn& t, std::size_t* removed, bool* done) {
    BACKSTOP_CURSOR(c, t, by_time_);
    std::string_view k, v;
    bool more = false;
    std::size_t chunk = 0;
    *done = true;
    BACKSTOP_ASSIGN(more, c.step(MDB_FIRST, &k, &v));
    while (more) {
      if (chunk == kPurgeChunk) {
        *done = false;
        break;
      }
      ++chunk;
      std::int64_t time = 0;
      std::string_view id;
      if (!codec::split_time_key(k, &time, &id) || !ledger_expired(time)) break;
      const std::string id_copy(id);  // k points into the page we are about to change
      BACKSTOP_TRY(c.del());
      {
        std::string_view bytes;
        bool found = false;
        BACKSTOP_ASSIGN(found, t.get(ledger_, id_copy, &bytes));
        auto e = found ? codec::decode_ledger(bytes) : Result<LedgerEntry>(unexpected<Error>(Error(Code::kMalformed, "")));
        if (e) BACKSTOP_TRY(unindex(t, id_copy, *e));
      }
      auto d = t.del(ledger_, id_copy);
      if (!d) return unexpected<Error>(std::move(d).error());
      ++*removed;
      BACKSTOP_ASSIGN(more, c.step(MDB_NEXT, &k, &v));
    }
    return {};
  }

  // Deletes expired entries from *resume on (key order), looking at most at
  // kPurgeScan entries; *resume becomes the next key to look at, and *done
  // is set at the end of the database.
  template <class Pred>
  Status purge_db(Txn& t, MDB_dbi dbi, std::size_t* removed, std::string* resume, bool* done, Pred expired) {
    BACKSTOP_CURSOR(c, t, dbi);
    std::string_view k, v;
    bool more = false;
    std::size_t scanned = 0;
    *done = true;
    if (resume->empty()) {
      BACKSTOP_ASSIGN(more, c.step(MDB_FIRST, &k, &v));
    } else {
      BACKSTOP_ASSIGN(more, c.step(MDB_SET_RANGE, &k, &v, *resume));
    }
    while (more) {
      if (scanned++ == kPurgeScan) {
        *resume = std::string(k);
        *done = false;
        break;
      }
      auto gone = expired(v);
      // Damaged values are purged too: nothing can read them.
      if (!gone || *gone) {
        BACKSTOP_TRY(c.del());
        ++*removed;
        BACKSTOP_ASSIGN(more, c.step(MDB_NEXT, &k, &v));
      } else {
        BACKSTOP_ASSIGN(more, c.step(MDB_NEXT, &k, &v));
      }
    }
    return {};
  }

  const Options opt_;
  const LmdbOptions lmdb_;
  const Clock& clock_;
  MDB_env* env_ = nullptr;
  std::shared_mutex resize_mu_;
  std::size_t map_size_ = 0;  // guarded by resize_mu_
  MDB_dbi keys_ = 0;  // the ledger's secondary index (MDB_DUPSORT)
  MDB_dbi ledger_ = 0, by_time_ = 0, meta_ = 0, corr_ = 0, counters_ = 0, records_ = 0,
          listings_ = 0, allow_ = 0;
};

}  // namespace

Result<std::unique_ptr<Store>> open_lmdb_store(const LmdbOptions& lmdb, Options options) {
  if (lmdb.dir.empty()) return fail(Code::kInvalidArgument, "empty state directory");
  auto s = std::make_unique<LmdbStore>(options, lmdb);
  BACKSTOP_TRY(s->open());
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace backstop::store
