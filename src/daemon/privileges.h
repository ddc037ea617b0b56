// Who `backstop serve` runs as (daemon.run_as) and the one-way drop from
// root: serve will not keep root.
//
// Started as root, serve (daemon/serve.h) follows this order on its one
// thread, before any other thread exists: read the configuration; decide
// (decide_privileges); open the log; bind every listener (net::Listening);
// give_sockets and give_state to the account; drop_privileges. Only then, as
// the account, it opens the store (so files it creates are the account's)
// and starts its threads. Any failure on the way is a start-up error (exit
// 2): there is never a daemon running half-dropped.
//
// Thread-safety: resolve_account and decide_privileges are safe anywhere;
// give_* and drop_privileges change the process and belong to its start.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace backstop::daemon {

// An account as the system's databases (NSS) know it.
struct Account {
  std::string user;   // the user name
  std::string group;  // the primary group's name (its number if it has none)
  unsigned uid = 0;
  unsigned gid = 0;                 // the primary group: the user's, or RunAs::group
  std::vector<unsigned> groups;     // every group the process gets: gid and the user's supplementary groups
};

// Looks `r` up: the user, its primary group (or r.group) and its group list
// (getgrouplist). kEnvironment naming the user or group that does not exist
// or cannot be looked up.
Result<Account> resolve_account(const config::RunAs& r);

// daemon.run_as of `cfg`, resolved; nullopt when it is empty. Errors as
// config::parse_run_as and resolve_account, prefixed "daemon.run_as: ".
Result<std::optional<Account>> run_as_account(const config::Config& cfg);

// The effective user and group of a process.
struct Identity {
  unsigned uid = 0;
  unsigned gid = 0;
};
Identity current_identity();

enum class PrivilegeAction {
  kKeep,  // serve as we are
  kDrop,  // bind as root, then drop_privileges to the account
};

// What serve does, as process `self`, with daemon.run_as = `run_as`. Pure.
//   self root, run_as empty               -> kEnvironment naming the key and the fix
//   self root, run_as resolves to uid 0   -> kEnvironment (serve will not keep root)
//   self root, run_as another user        -> kDrop
//   self not root, run_as empty           -> kKeep
//   self not root, run_as is self's uid (and, when a group is named, its gid is self's) -> kKeep
//   self not root, run_as anyone else     -> kEnvironment (a non-root process cannot switch)
Result<PrivilegeAction> decide_privileges(Identity self, const std::optional<Account>& run_as);

// Makes `a` the owner (user and group) of the state serve keeps, as root,
// before the drop: state.dir (created, mode 0700, when the LMDB backend is
// used and it is absent), the LMDB files in it (data.mdb, lock.mdb), the
// counters/ environment and its files, and the BATV key file (and a
// leftover KEYFILE.new of `batv rotate`) when it lies directly in state.dir.
// Nothing else: state.dir itself changes owner only when it holds nothing
// but those entries (so a state.dir pointed at a shared directory is never
// given away), and an entry that is a symlink, of an unexpected type or a
// regular file with other hard links is left alone (it could be anyone's
// file). Entries are opened without following symlinks and changed through
// their descriptor, so a rename in between cannot redirect the change.
// Returns one line per change and per entry left alone, for the log.
// kEnvironment naming the path when a change fails.
struct GivenState {
  std::vector<std::string> changed;  // "PATH: owner U:G -> user:group"
  std::vector<std::string> left;     // entries not changed, and why (warnings)
};
Result<GivenState> give_state(const config::Config& cfg, const Account& a);

// Makes `a` the owner of the unix socket files at `paths` (just bound by
// serve): user a.uid, and group a.gid unless the socket's directory is
// set-group-ID (then the directory's group, which the kernel gave it,
// stays) — the owner and group they would have had if `a` had created them.
// Returns one line per change. kEnvironment naming the path on failure, or
// when the path is not a socket.
Result<std::vector<std::string>> give_sockets(const std::vector<std::string>& paths, const Account& a);

// Drops root for good: setgroups(a.groups), setresgid(a.gid x3),
// setresuid(a.uid x3); then verifies that real, effective, saved and
// filesystem ids are a's, that the group list is a.groups, that no
// capability is left, and that setuid(0), setgid(0) and setgroups fail.
// REQUIRES: effective uid 0, a.uid != 0, and one thread in the process
// (kInternal otherwise: threads started before the drop are an ordering
// bug). kEnvironment naming the system call that failed or the check that
// did not hold; the caller must then exit.
Status drop_privileges(const Account& a);

}  // namespace backstop::daemon
