// A Store decorator that fails on command, for fault tests: every call is
// forwarded to the wrapped store unless a fault is armed for its kind
// (writes: every mutating call and apply(); reads: the rest), in which case it
// returns the armed error, or throws std::runtime_error when armed with
// throw_on_*(), without touching the wrapped store.
// Thread-safety: as the wrapped store; arming is atomic and may happen from
// any thread while others call.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "store/store.h"

namespace backstop::store {

class FaultStore final : public Store {
 public:
  // Takes ownership of `inner`.
  explicit FaultStore(std::unique_ptr<Store> inner);

  // The next `n` write calls fail (-1: every one until disarmed) with `code`.
  void fail_writes(int n, Code code = Code::kUnavailable);
  void fail_reads(int n, Code code = Code::kUnavailable);
  // The next `n` write (read) calls throw std::runtime_error instead, as a
  // bug or an allocation failure would: for the callers' exception edges.
  void throw_on_writes(int n);
  void throw_on_reads(int n);
  void disarm();
  // Calls `fn` at the start of every read call, on the caller's thread (tests
  // that check where reads run). Set before the store is shared.
  void on_read(std::function<void()> fn) { on_read_ = std::move(fn); }
  std::uint64_t failed_calls() const { return failed_.load(); }
  Store& inner() { return *inner_; }

  Status ledger_put(std::string_view id, const LedgerEntry& e) override;
  Result<std::optional<LedgerEntry>> ledger_get(std::string_view id) override;
  Result<std::vector<LedgerItem>> ledger_recent(std::size_t limit) override;
  Result<std::optional<std::int64_t>> ledger_first_time() override;
  Result<std::vector<LedgerItem>> ledger_find(const LedgerFind& q) override;
  Status correspondent_record(std::string_view local, std::string_view external, std::int64_t time) override;
  Result<std::optional<std::int64_t>> correspondent_last_seen(std::string_view local,
                                                              std::string_view external) override;
  Result<std::vector<Correspondent>> correspondents(std::string_view local, std::size_t limit) override;
  Result<std::int64_t> counter_add(std::string_view key, std::int64_t delta, std::int64_t expires_at) override;
  Result<bool> counter_add_if_below(std::string_view key, std::int64_t delta, std::int64_t limit,
                                    std::int64_t expires_at) override;
  Result<std::int64_t> counter_get(std::string_view key) override;
  Status record_put(std::string_view key, std::string_view value, std::int64_t expires_at) override;
  Result<std::optional<std::string>> record_get(std::string_view key) override;
  Status record_erase(std::string_view key) override;
  Status records_update(std::span<const std::string> keys, const RecordUpdateFn& fn) override;
  Result<Listing> listing_hit(std::string_view ip, const Evidence& evidence) override;
  Result<std::optional<Listing>> listing_get(std::string_view ip) override;
  Status listing_put(const Listing& listing) override;
  Result<std::vector<Listing>> listing_all() override;
  Result<bool> listing_remove(std::string_view ip) override;
  Status allowlist_add(std::string_view cidr) override;
  Result<bool> allowlist_remove(std::string_view cidr) override;
  Result<std::vector<std::string>> allowlist() override;
  Result<bool> allowlisted(std::string_view ip) override;
  Status apply(std::span<const WriteOp> ops) override;
  // The wrapped store's counter, behind the write faults (null when it has none).
  WindowCounter* window_counter() override { return inner_->window_counter() ? &windows_ : nullptr; }
  Status export_all(ExportVisitor& visitor) override;
  Result<std::size_t> purge_expired() override;

 private:
  struct Arm {
    std::atomic<int> left{0};
    std::atomic<Code> code{Code::kUnavailable};
    std::atomic<bool> throws{false};
  };
  // The error to return now, if a fault of this kind is armed (consumes one);
  // throws instead when armed to.
  std::optional<Error> trip(Arm& a);
  std::optional<Error> w() { return trip(writes_); }
  std::optional<Error> r() {
    if (on_read_) on_read_();
    return trip(reads_);
  }

  class Windows final : public WindowCounter {
   public:
    explicit Windows(FaultStore* s) : s_(s) {}
    Result<std::vector<WindowResult>> check_and_count(std::span<const WindowSpec> windows,
                                                      std::int64_t now) override;

   private:
    FaultStore* s_;
  };

  std::unique_ptr<Store> inner_;
  Windows windows_{this};
  Arm writes_, reads_;
  std::function<void()> on_read_;
  std::atomic<std::uint64_t> failed_{0};
};

}  // namespace backstop::store
