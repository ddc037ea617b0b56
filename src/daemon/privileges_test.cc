#include "daemon/privileges.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

namespace backstop::daemon {
namespace {

// Debian's nobody:nogroup; the tests build the account by hand, so they need
// no entry in the account databases.
constexpr unsigned kNobody = 65534;

Account nobody() {
  Account a;
  a.user = "nobody";
  a.group = "nogroup";
  a.uid = kNobody;
  a.gid = kNobody;
  a.groups = {kNobody};
  return a;
}

Account user(unsigned uid, unsigned gid, std::string name = "u") {
  Account a;
  a.user = std::move(name);
  a.group = "g";
  a.uid = uid;
  a.gid = gid;
  a.groups = {gid};
  return a;
}

// --- the decision table ---------------------------------------------------

TEST(DecidePrivileges, RootWithoutRunAsIsRefusedNamingTheKeyAndTheFix) {
  auto r = decide_privileges({0, 0}, std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kEnvironment);
  EXPECT_NE(r.error().message().find("will not run as root"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("daemon.run_as"), std::string::npos);
  EXPECT_NE(r.error().message().find("User=backstop"), std::string::npos);
}

TEST(DecidePrivileges, RootWithRunAsNamingRootIsRefused) {
  auto r = decide_privileges({0, 0}, user(0, 0, "toor"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kEnvironment);
  EXPECT_NE(r.error().message().find("'toor', uid 0"), std::string::npos) << r.error().message();
}

TEST(DecidePrivileges, RootWithAnotherUserDrops) {
  EXPECT_EQ(decide_privileges({0, 0}, nobody()), PrivilegeAction::kDrop);
  EXPECT_EQ(decide_privileges({0, 5}, user(1000, 0)), PrivilegeAction::kDrop);  // any root gid
}

TEST(DecidePrivileges, NonRootKeepsWhoItIs) {
  EXPECT_EQ(decide_privileges({1000, 1000}, std::nullopt), PrivilegeAction::kKeep);
  EXPECT_EQ(decide_privileges({1000, 1000}, user(1000, 1000)), PrivilegeAction::kKeep);
}

TEST(DecidePrivileges, NonRootCannotSwitchUserOrGroup) {
  auto other = decide_privileges({1000, 1000}, user(1001, 1000, "bob"));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), Code::kEnvironment);
  EXPECT_NE(other.error().message().find("'bob' (uid 1001)"), std::string::npos) << other.error().message();
  EXPECT_NE(other.error().message().find("runs as uid 1000 and cannot switch users"), std::string::npos);
  auto group = decide_privileges({1000, 1000}, user(1000, 7));
  ASSERT_FALSE(group);
  EXPECT_NE(group.error().message().find("cannot switch groups"), std::string::npos) << group.error().message();
}

// --- looking the account up -----------------------------------------------

TEST(ResolveAccount, FindsUsersAndGroups) {
  auto root = resolve_account({"root", ""});
  ASSERT_TRUE(root) << root.error().to_string();
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->gid, 0u);
  EXPECT_EQ(root->group, "root");
  ASSERT_FALSE(root->groups.empty());
  EXPECT_NE(std::find(root->groups.begin(), root->groups.end(), 0u), root->groups.end());

  auto missing = resolve_account({"no-such-user-backstop", ""});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kEnvironment);
  EXPECT_NE(missing.error().message().find("no such user 'no-such-user-backstop'"), std::string::npos);
  auto bad_group = resolve_account({"root", "no-such-group-backstop"});
  ASSERT_FALSE(bad_group);
  EXPECT_NE(bad_group.error().message().find("no such group 'no-such-group-backstop'"), std::string::npos);
}

TEST(ResolveAccount, ANamedGroupIsThePrimaryGroup) {
  auto a = resolve_account({"root", "root"});
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(a->gid, 0u);
  if (auto n = resolve_account({"nobody", ""}); n) {  // Debian: nobody:nogroup
    EXPECT_NE(n->uid, 0u);
    EXPECT_EQ(n->groups.front(), n->gid);
  }
}

TEST(RunAsAccount, EmptyIsNoneAndErrorsNameTheKey) {
  auto none = run_as_account(config::Config::defaults());
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto cfg = config::Config::parse("[daemon]\nrun_as = \"no-such-user-backstop\"\n");
  ASSERT_TRUE(cfg) << cfg.error().to_string();
  auto r = run_as_account(*cfg);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kEnvironment);
  EXPECT_EQ(r.error().message().rfind("daemon.run_as: no such user", 0), 0u) << r.error().message();
}

// --- handing over the state and the sockets (root only) -------------------

class HandOver : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to change owners";
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/backstop-privs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  static void touch(const std::string& p) { std::ofstream(p) << "x"; }
  static struct stat lstat_of(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st;
  }
  config::Config cfg(const std::string& extra = "") const {
    auto c = config::Config::parse("state.dir = \"" + state() + "\"\n" + extra);
    EXPECT_TRUE(c) << c.error().to_string();
    return *c;
  }
  std::string state() const { return dir_ + "/state"; }
  std::string dir_;
};

TEST_F(HandOver, AnAbsentStateDirIsCreatedForTheUser) {
  auto r = give_state(cfg(), nobody());
  ASSERT_TRUE(r) << r.error().to_string();
  auto st = lstat_of(state());
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_gid, kNobody);
  ASSERT_EQ(r->changed.size(), 1u);
  EXPECT_NE(r->changed[0].find(state() + ": owner 0:0 -> nobody:nogroup"), std::string::npos) << r->changed[0];
  EXPECT_TRUE(r->left.empty());
  // Done once: a second hand-over changes nothing.
  auto again = give_state(cfg(), nobody());
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->changed.empty());
}

TEST_F(HandOver, BackstopsOwnFilesChangeOwner) {
  std::filesystem::create_directories(state() + "/counters");
  for (const char* f : {"data.mdb", "lock.mdb", "batv.keys", "counters/data.mdb", "counters/lock.mdb"})
    touch(state() + "/" + f);
  auto r = give_state(cfg(), nobody());
  ASSERT_TRUE(r) << r.error().to_string();
  for (const char* f : {"", "/data.mdb", "/lock.mdb", "/batv.keys", "/counters", "/counters/data.mdb",
                        "/counters/lock.mdb"}) {
    EXPECT_EQ(lstat_of(state() + f).st_uid, kNobody) << f;
    EXPECT_EQ(lstat_of(state() + f).st_gid, kNobody) << f;
  }
  EXPECT_EQ(r->changed.size(), 7u);
  EXPECT_TRUE(r->left.empty());
}

TEST_F(HandOver, AKeyFileOutsideTheStateDirIsNotTouched) {
  std::filesystem::create_directories(state());
  touch(dir_ + "/elsewhere.keys");
  touch(state() + "/batv.keys");  // not the configured key file: not backstop's
  auto r = give_state(cfg("batv.key_file = \"" + dir_ + "/elsewhere.keys\"\n"), nobody());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(lstat_of(dir_ + "/elsewhere.keys").st_uid, 0u);
  EXPECT_EQ(lstat_of(state() + "/batv.keys").st_uid, 0u);
  // ...and so state.dir holds a file that is not backstop's: it keeps its owner.
  EXPECT_EQ(lstat_of(state()).st_uid, 0u);
  ASSERT_EQ(r->left.size(), 1u);
  EXPECT_NE(r->left[0].find("holds 'batv.keys', which is not backstop's"), std::string::npos) << r->left[0];
}

// state.dir pointed at a shared directory must never be given away, and
// nothing is changed through a symlink or a hard link.
TEST_F(HandOver, ForeignFilesSymlinksAndHardLinksAreLeftAlone) {
  std::filesystem::create_directories(state());
  touch(dir_ + "/precious");
  touch(state() + "/notes.txt");
  std::filesystem::create_symlink(dir_ + "/precious", state() + "/data.mdb");
  ASSERT_EQ(::link((dir_ + "/precious").c_str(), (state() + "/lock.mdb").c_str()), 0);
  auto r = give_state(cfg(), nobody());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(lstat_of(dir_ + "/precious").st_uid, 0u);
  EXPECT_EQ(lstat_of(state() + "/notes.txt").st_uid, 0u);
  EXPECT_EQ(lstat_of(state()).st_uid, 0u);
  EXPECT_TRUE(r->changed.empty());
  ASSERT_EQ(r->left.size(), 3u);
  std::string all;
  for (const auto& l : r->left) all += l + "\n";
  EXPECT_NE(all.find("data.mdb is a symlink"), std::string::npos) << all;
  EXPECT_NE(all.find("lock.mdb has 2 hard links"), std::string::npos) << all;
  EXPECT_NE(all.find("not backstop's"), std::string::npos) << all;
}

TEST_F(HandOver, SocketsGetTheUserAndKeepASetGroupIdDirectorysGroup) {
  auto bind_at = [](const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << path;
    return fd;
  };
  const std::string plain = dir_ + "/m.sock";
  const std::string sgid_dir = dir_ + "/sgid";
  ASSERT_EQ(::mkdir(sgid_dir.c_str(), 0755), 0);
  ASSERT_EQ(::chown(sgid_dir.c_str(), 0, 4242), 0);
  ASSERT_EQ(::chmod(sgid_dir.c_str(), 02755), 0);
  const std::string in_sgid = sgid_dir + "/p.sock";
  int a = bind_at(plain), b = bind_at(in_sgid);
  auto r = give_sockets({plain, in_sgid}, nobody());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(lstat_of(plain).st_uid, kNobody);
  EXPECT_EQ(lstat_of(plain).st_gid, kNobody);
  EXPECT_EQ(lstat_of(in_sgid).st_uid, kNobody);
  EXPECT_EQ(lstat_of(in_sgid).st_gid, 4242u);
  EXPECT_EQ(r->size(), 2u);
  ::close(a);
  ::close(b);
  touch(dir_ + "/not-a-socket");
  auto bad = give_sockets({dir_ + "/not-a-socket"}, nobody());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("is not a socket"), std::string::npos);
}

// --- the drop itself (in a child process: it cannot be undone) -----------

// ThreadSanitizer runs a thread of its own (also in a forked child), so a
// process under it is never single-threaded: the drop refuses, rightly.
#if defined(__SANITIZE_THREAD__)
#define BACKSTOP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BACKSTOP_TSAN 1
#endif
#endif

// Runs `body` in a forked child and returns its exit status (-1 if it did
// not exit normally). The child uses system calls and exits; no gtest there.
template <class F>
int in_child(F body) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(DropPrivileges, DropsForGoodAndVerifies) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
#ifdef BACKSTOP_TSAN
  GTEST_SKIP() << "ThreadSanitizer's own thread makes every process multi-threaded";
#endif
  const int rc = in_child([] {
    if (!drop_privileges(nobody())) return 10;
    uid_t r = 0, e = 0, s = 0;
    if (::getresuid(&r, &e, &s) != 0 || r != kNobody || e != kNobody || s != kNobody) return 11;
    gid_t gr = 0, ge = 0, gs = 0;
    if (::getresgid(&gr, &ge, &gs) != 0 || gr != kNobody || ge != kNobody || gs != kNobody) return 12;
    if (::setuid(0) == 0) return 13;
    if (::open("/etc/shadow", O_RDONLY) >= 0) return 14;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(DropPrivileges, RefusesWhenNotRootOrWhenThreadsRun) {
  if (::geteuid() != 0) {
    auto r = drop_privileges(nobody());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kInternal);
    return;
  }
  EXPECT_EQ(drop_privileges(user(0, 0)).error().code(), Code::kInternal);  // to root: refused, nothing changed
  EXPECT_EQ(::geteuid(), 0u);
#ifdef BACKSTOP_TSAN
  GTEST_SKIP() << "ThreadSanitizer's own thread makes every process multi-threaded";
#else
  const int rc = in_child([] {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread t([&] {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return done; });
    });
    auto r = drop_privileges(nobody());
    {
      std::lock_guard lock(m);
      done = true;
    }
    cv.notify_one();
    t.join();
    if (r) return 20;
    if (r.error().code() != Code::kInternal) return 21;
    if (r.error().message().find("2 threads run already") == std::string::npos) return 22;
    return ::geteuid() == 0 ? 0 : 23;
  });
  EXPECT_EQ(rc, 0);
#endif
}

}  // namespace
}  // namespace backstop::daemon
