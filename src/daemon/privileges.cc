#include "daemon/privileges.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "daemon/engine.h"
#include "store/store.h"

namespace backstop::daemon {
namespace {

// Largest buffer tried for one account database entry (getpwnam_r & co.
// answer ERANGE below what they need; a group with thousands of members
// needs a large one).
constexpr std::size_t kMaxNssBuffer = std::size_t{1} << 24;

unexpected<Error> sys_error(const std::string& what) {
  return fail(Code::kEnvironment, what + ": " + std::strerror(errno));
}

// Calls `lookup(buffer, size, &found)` (a *_r NSS function) with a growing
// buffer; returns its result code (0, or an errno value).
template <class F>
int nss_lookup(std::vector<char>& buf, F lookup) {
  buf.resize(4096);
  for (;;) {
    int rc = lookup(buf.data(), buf.size());
    if (rc != ERANGE || buf.size() >= kMaxNssBuffer) return rc;
    buf.resize(buf.size() * 2);
  }
}

std::string account_text(const Account& a) { return a.user + ":" + a.group; }

std::string ids_text(const struct stat& st) { return std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid); }

// The number of threads of this process, or 0 when /proc cannot tell.
std::size_t thread_count() {
  DIR* d = ::opendir("/proc/self/task");
  if (!d) return 0;
  std::size_t n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

// An open descriptor, closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

enum class Kind { kDir, kFile };

// Makes `a` the owner of entry `name` of the directory open as `dfd`
// (`shown` names it in messages), when it exists and is not already a's.
// Never follows a symlink; leaves alone (noting why in out->left) an entry of
// another kind than `kind` and a regular file with other hard links.
Status give_entry(int dfd, const std::string& name, const std::string& shown, Kind kind, const Account& a,
                  GivenState* out) {
  Fd fd(::openat(dfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (fd.fd < 0) {
    if (errno == ENOENT) return {};
    return sys_error("cannot open " + shown);
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return sys_error("cannot stat " + shown);
  if (S_ISLNK(st.st_mode)) {
    out->left.push_back(shown + " is a symlink: its owner is left alone");
    return {};
  }
  if (kind == Kind::kDir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
    out->left.push_back(shown + " is not a " + (kind == Kind::kDir ? "directory" : "regular file") +
                        ": its owner is left alone");
    return {};
  }
  if (kind == Kind::kFile && st.st_nlink > 1) {
    out->left.push_back(shown + " has " + std::to_string(st.st_nlink) +
                        " hard links (it may be another file too): its owner is left alone");
    return {};
  }
  if (st.st_uid == a.uid && st.st_gid == a.gid) return {};
  if (::fchownat(fd.fd, "", a.uid, a.gid, AT_EMPTY_PATH) != 0) return sys_error("cannot change the owner of " + shown);
  out->changed.push_back(shown + ": owner " + ids_text(st) + " -> " + account_text(a));
  return {};
}

// The names of the entries of the directory open as `dfd`.
Result<std::vector<std::string>> entries(int dfd, const std::string& shown) {
  int dup = ::fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return sys_error("cannot read " + shown);
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    return sys_error("cannot read " + shown);
  }
  std::vector<std::string> out;
  while (const dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(std::move(n));
  }
  ::closedir(d);
  return out;
}

}  // namespace

Result<Account> resolve_account(const config::RunAs& r) {
  Account a;
  std::vector<char> buf;
  passwd pw{};
  passwd* found = nullptr;
  int rc = nss_lookup(buf, [&](char* b, std::size_t n) { return ::getpwnam_r(r.user.c_str(), &pw, b, n, &found); });
  if (rc != 0) return fail(Code::kEnvironment, "cannot look up user '" + r.user + "': " + std::strerror(rc));
  if (!found) return fail(Code::kEnvironment, "no such user '" + r.user + "'");
  a.user = pw.pw_name;
  a.uid = pw.pw_uid;
  a.gid = pw.pw_gid;
  group gr{};
  group* gfound = nullptr;
  std::vector<char> gbuf;
  if (!r.group.empty()) {
    rc = nss_lookup(gbuf, [&](char* b, std::size_t n) { return ::getgrnam_r(r.group.c_str(), &gr, b, n, &gfound); });
    if (rc != 0) return fail(Code::kEnvironment, "cannot look up group '" + r.group + "': " + std::strerror(rc));
    if (!gfound) return fail(Code::kEnvironment, "no such group '" + r.group + "'");
    a.gid = gr.gr_gid;
    a.group = gr.gr_name;
  } else {
    rc = nss_lookup(gbuf, [&](char* b, std::size_t n) { return ::getgrgid_r(a.gid, &gr, b, n, &gfound); });
    a.group = rc == 0 && gfound ? std::string(gr.gr_name) : std::to_string(a.gid);
  }
  // The user's groups, with the primary one first (getgrouplist adds it).
  std::vector<gid_t> list(64);
  for (;;) {
    int n = static_cast<int>(list.size());
    if (::getgrouplist(a.user.c_str(), a.gid, list.data(), &n) >= 0) {
      list.resize(static_cast<std::size_t>(n));
      break;
    }
    if (n <= static_cast<int>(list.size()) || list.size() >= 65536)
      return fail(Code::kEnvironment, "cannot list the groups of user '" + a.user + "'");
    list.resize(static_cast<std::size_t>(n));
  }
  a.groups.assign(list.begin(), list.end());
  if (std::find(a.groups.begin(), a.groups.end(), a.gid) == a.groups.end()) a.groups.insert(a.groups.begin(), a.gid);
  return a;
}

Result<std::optional<Account>> run_as_account(const config::Config& cfg) {
  const std::string& text = cfg.get_string("daemon.run_as");
  if (text.empty()) return std::optional<Account>();
  auto r = config::parse_run_as(text);
  if (!r) return fail(r.error().code(), "daemon.run_as: " + r.error().message());
  auto a = resolve_account(*r);
  if (!a) return fail(a.error().code(), "daemon.run_as: " + a.error().message());
  return std::optional<Account>(std::move(*a));
}

Identity current_identity() { return {static_cast<unsigned>(::geteuid()), static_cast<unsigned>(::getegid())}; }

Result<PrivilegeAction> decide_privileges(Identity self, const std::optional<Account>& run_as) {
  if (self.uid == 0) {
    if (!run_as) {
      return fail(Code::kEnvironment,
                  "backstop serve will not run as root: set daemon.run_as to the user it should serve as "
                  "(`[daemon]` `run_as = \"backstop\"` in the configuration file); it binds its listeners "
                  "as root, then drops to that user for good. Or start it as that user, as the shipped "
                  "systemd unit does (User=backstop)");
    }
    if (run_as->uid == 0) {
      return fail(Code::kEnvironment, "daemon.run_as names '" + run_as->user +
                                          "', uid 0: backstop serve will not keep root; name an "
                                          "unprivileged user of its own (e.g. backstop)");
    }
    return PrivilegeAction::kDrop;
  }
  if (!run_as) return PrivilegeAction::kKeep;
  if (run_as->uid != self.uid) {
    return fail(Code::kEnvironment,
                "daemon.run_as is '" + run_as->user + "' (uid " + std::to_string(run_as->uid) +
                    "), but backstop serve runs as uid " + std::to_string(self.uid) +
                    " and cannot switch users: start it as root (it drops to " + run_as->user +
                    " after binding) or as " + run_as->user + ", or change daemon.run_as");
  }
  if (run_as->gid != self.gid) {
    // Only a named group can differ: the user's own primary group is what
    // a login as that user (or systemd's User=) gives.
    return fail(Code::kEnvironment,
                "daemon.run_as names group '" + run_as->group + "' (gid " + std::to_string(run_as->gid) +
                    "), but backstop serve runs with gid " + std::to_string(self.gid) +
                    " and cannot switch groups: start it as root, or with that group (systemd: Group=), "
                    "or change daemon.run_as");
  }
  return PrivilegeAction::kKeep;
}

Result<GivenState> give_state(const config::Config& cfg, const Account& a) {
  GivenState out;
  const std::string dir = cfg.get_string("state.dir");
  const bool lmdb = cfg.get_string("state.backend") == "lmdb";
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    if (ec) return fail(Code::kEnvironment, "state.dir " + dir + ": " + ec.message());
    if (!lmdb) return out;  // nothing is kept there
    // As the LMDB store would create it, but now, while we may.
    if (!std::filesystem::create_directories(dir, ec) || ec)
      return fail(Code::kEnvironment, "cannot create state directory " + dir + ": " + ec.message());
    if (::chmod(dir.c_str(), 0700) != 0) return sys_error("cannot chmod state directory " + dir);
  }
  // Follows a symlinked state.dir on purpose: that is where the state is.
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.fd < 0) return sys_error("state.dir " + dir);

  // Backstop's own entries of state.dir.
  std::set<std::string> ours;
  for (auto f : store::kLmdbFiles) ours.emplace(f);
  for (auto d : kSoftStateDirs) ours.emplace(d);
  const std::filesystem::path key = key_file_path(cfg);
  const bool key_here = (std::filesystem::path(dir) / key.filename()).lexically_normal() == key.lexically_normal();
  if (key_here) {
    ours.insert(key.filename().string());
    ours.insert(key.filename().string() + ".new");  // a leftover of `batv rotate`
  }

  for (const auto& name : ours) {
    const bool sub = std::find(std::begin(kSoftStateDirs), std::end(kSoftStateDirs), name) != std::end(kSoftStateDirs);
    BACKSTOP_TRY(give_entry(dfd.fd, name, dir + "/" + name, sub ? Kind::kDir : Kind::kFile, a, &out));
  }
  for (auto d : kSoftStateDirs) {
    Fd cfd(::openat(dfd.fd, std::string(d).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (cfd.fd >= 0) {
      const std::string shown = dir + "/" + std::string(d);
      for (auto f : store::kLmdbFiles) BACKSTOP_TRY(give_entry(cfd.fd, std::string(f), shown + "/" + std::string(f), Kind::kFile, a, &out));
    }
  }

  struct stat st {};
  if (::fstat(dfd.fd, &st) != 0) return sys_error("cannot stat state.dir " + dir);
  if (st.st_uid == a.uid && st.st_gid == a.gid) return out;
  auto names = entries(dfd.fd, dir);
  BACKSTOP_TRY(names);
  for (const auto& n : *names) {
    if (!ours.contains(n)) {
      out.left.push_back("state.dir " + dir + " holds '" + n + "', which is not backstop's: its owner (" + ids_text(st) +
                         ") is left alone; make it writable for " + a.user + " or give backstop a directory of its own");
      return out;
    }
  }
  if (::fchown(dfd.fd, a.uid, a.gid) != 0) return sys_error("cannot change the owner of state.dir " + dir);
  out.changed.push_back(dir + ": owner " + ids_text(st) + " -> " + account_text(a));
  return out;
}

Result<std::vector<std::string>> give_sockets(const std::vector<std::string>& paths, const Account& a) {
  std::vector<std::string> changed;
  for (const auto& path : paths) {
    const std::filesystem::path p(path);
    const std::string parent = p.has_parent_path() ? p.parent_path().string() : std::string(".");
    Fd dfd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd.fd < 0) return sys_error("cannot open the directory of socket " + path);
    struct stat dst {};
    if (::fstat(dfd.fd, &dst) != 0) return sys_error("cannot stat the directory of socket " + path);
    Fd fd(::openat(dfd.fd, p.filename().c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (fd.fd < 0) return sys_error("cannot open socket " + path);
    struct stat st {};
    if (::fstat(fd.fd, &st) != 0) return sys_error("cannot stat socket " + path);
    if (!S_ISSOCK(st.st_mode)) return fail(Code::kEnvironment, path + " is not a socket");
    const gid_t gid = (dst.st_mode & S_ISGID) ? static_cast<gid_t>(-1) : a.gid;
    if (::fchownat(fd.fd, "", a.uid, gid, AT_EMPTY_PATH) != 0) return sys_error("cannot change the owner of socket " + path);
    changed.push_back(path + ": owner " + ids_text(st) + " -> " + a.user + ":" +
                      (gid == static_cast<gid_t>(-1) ? std::to_string(st.st_gid) + " (set-group-ID directory)" : a.group));
  }
  return changed;
}

Status drop_privileges(const Account& a) {
  if (::geteuid() != 0) return fail(Code::kInternal, "drop_privileges: not running as root");
  if (a.uid == 0) return fail(Code::kInternal, "drop_privileges: the account is root");
  if (const std::size_t n = thread_count(); n > 1)
    return fail(Code::kInternal, "drop_privileges: " + std::to_string(n) + " threads run already; the drop must come first");

  std::vector<gid_t> groups(a.groups.begin(), a.groups.end());
  if (::setgroups(groups.size(), groups.data()) != 0) return sys_error("setgroups for " + a.user);
  if (::setresgid(a.gid, a.gid, a.gid) != 0) return sys_error("setresgid " + std::to_string(a.gid));
  if (::setresuid(a.uid, a.uid, a.uid) != 0) return sys_error("setresuid " + std::to_string(a.uid));

  // Verify, trusting nothing above: every id, the group list, the
  // capabilities, and that root cannot be had back.
  auto broken = [](const std::string& what) {
    return fail(Code::kEnvironment, "privilege drop incomplete: " + what);
  };
  uid_t ru = 0, eu = 0, su = 0;
  gid_t rg = 0, eg = 0, sg = 0;
  if (::getresuid(&ru, &eu, &su) != 0 || ru != a.uid || eu != a.uid || su != a.uid)
    return broken("user ids are " + std::to_string(ru) + "/" + std::to_string(eu) + "/" + std::to_string(su));
  if (::getresgid(&rg, &eg, &sg) != 0 || rg != a.gid || eg != a.gid || sg != a.gid)
    return broken("group ids are " + std::to_string(rg) + "/" + std::to_string(eg) + "/" + std::to_string(sg));
  // setfs[ug]id with an invalid id changes nothing and returns the current one.
  if (const auto fsu = static_cast<unsigned>(::setfsuid(static_cast<uid_t>(-1))); fsu != a.uid)
    return broken("filesystem uid is " + std::to_string(fsu));
  if (const auto fsg = static_cast<unsigned>(::setfsgid(static_cast<gid_t>(-1))); fsg != a.gid)
    return broken("filesystem gid is " + std::to_string(fsg));
  const int ng = ::getgroups(0, nullptr);
  std::vector<gid_t> now(static_cast<std::size_t>(std::max(ng, 0)));
  if (ng < 0 || ::getgroups(ng, now.data()) != ng) return sys_error("getgroups");
  std::sort(now.begin(), now.end());
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  now.erase(std::unique(now.begin(), now.end()), now.end());
  if (now != groups) return broken("the group list is not " + a.user + "'s");
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &hdr, caps) != 0) return sys_error("capget");
  for (const auto& c : caps) {
    if (c.effective || c.permitted || c.inheritable) return broken("capabilities are left");
  }
  if (::setuid(0) == 0 || ::seteuid(0) == 0) return broken("setuid(0) succeeded: root can be regained");
  if (::setgid(0) == 0 || ::setegid(0) == 0) return broken("setgid(0) succeeded");
  if (::setgroups(0, nullptr) == 0) return broken("setgroups succeeded");
  return {};
}

}  // namespace backstop::daemon
