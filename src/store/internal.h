// Rules shared by every backend (not part of the public interface): argument
// checks against the limits of store.h and the listing update. Pure; thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace backstop::store::internal {

Status check_message_id(std::string_view id);
Status check_address(std::string_view what, std::string_view address);
Status check_ledger_entry(const LedgerEntry& e);
Status check_ledger_find(const LedgerFind& q);

// The ledger's secondary index: the index values of an entry, each once:
// 'r' + each recipient ASCII-lower-cased, 'e' + the ENVID when there is one.
// None contains a NUL (check_ledger_entry()).
std::vector<std::string> ledger_index_values(const LedgerEntry& e);
// The index value a query looks up (same form).
std::string ledger_index_value(const LedgerFind& q);
// Whether `e` answers `q` (names its value and was sent in its window):
// what each backend checks on the entries its index points at, so that a
// stale index item (of a replaced entry) never answers.
bool ledger_answers(const LedgerEntry& e, const LedgerFind& q);
Status check_key(std::string_view key);
Status check_record(std::string_view key, std::string_view value);
Status check_evidence(const Evidence& e);
// records_update(): 1..kMaxUpdateKeys valid keys; one valid change per key.
Status check_update_keys(std::span<const std::string> keys);
// check_and_count()'s arguments; counts, limits and amounts up to `max_exact`.
Status check_window_specs(std::span<const WindowSpec> windows, std::int64_t max_exact);
// read_batch()'s arguments.
Status check_read_batch(const ReadBatch& batch);
Status check_update_changes(std::span<const std::string> keys, std::span<const RecordChange> changes);
Status check_correspondent(std::string_view local, std::string_view external);
// Checks one batched write as the matching single call would.
Status check_op(const WriteOp& op);

// The value a RecordAppend leaves: `current` (the record's unexpired value,
// if any) with a.item appended and the oldest items dropped (store.h).
std::string append_item(const std::optional<std::string>& current, const RecordAppend& a);

// Counts one hit into `l` (a fresh listing has first_seen == 0 and no hits).
void apply_hit(Listing& l, const Evidence& e, bool allowlisted);

// Key of a correspondent: local NUL external (NUL never occurs in an address).
std::string correspondent_key(std::string_view local, std::string_view external);

const Clock& clock_of(const Options& o);

}  // namespace backstop::store::internal
