// Damage deeper than LMDB's meta pages: data pages zeroed or overwritten with
// pseudo-random garbage, single bytes of stored values changed, in a closed
// environment of thousands of ledger entries. Each damaged environment is
// read in a child process (open, every ledger_get, export_all), so a crash
// inside LMDB is observed, not suffered, and the parent checks what the
// child saw: right entries, wrong entries reported as found, absent ones,
// errors, and what the export said.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "store/store.h"
#include "store/test_util.h"

namespace backstop::store {
namespace {

constexpr std::int64_t kT0 = 1'700'000'000;
// Enough entries for a B-tree of several levels and hundreds of leaf pages.
constexpr int kEntries = 5000;
// Entries not read right that a probe names one by one.
constexpr int kMaxDetail = 12;

std::string id_of(int i) { return "d" + std::to_string(i) + "@example.com"; }
// With `keys` false the entries have no recipients, so the environment holds
// the ledger and its time index alone (no ledger keys): the pages a test
// picks in the middle of the file are then ledger pages.
LedgerEntry entry_of(int i, bool keys = true) {
  LedgerEntry e{kT0 + i, "s" + std::to_string(i) + "@example.com", {}};
  if (keys) e.recipients = {"r" + std::to_string(i) + "@example.net", "q" + std::to_string(i) + "@example.org"};
  return e;
}

struct Layout {
  std::size_t page_size = 0;
  std::size_t last_page = 0;  // highest page number in use
};

// Fills `dir` with kEntries ledger entries (fsynced), closes the store, and
// reads the page size and the last page in use with LMDB's own calls.
Layout fill(const std::string& dir, bool keys = true) {
  {
    auto s = open_lmdb_store({.dir = dir, .sync = true}, {});
    EXPECT_TRUE(s);
    if (!s) return {};
    std::vector<WriteOp> ops;
    for (int i = 0; i < kEntries; ++i) ops.push_back(LedgerPut{id_of(i), entry_of(i, keys)});
    EXPECT_TRUE((*s)->apply(ops));
  }
  Layout out;
  MDB_env* env = nullptr;
  mdb_env_create(&env);
  mdb_env_set_maxdbs(env, 16);
  if (mdb_env_open(env, dir.c_str(), MDB_NOTLS | MDB_RDONLY, 0600) == 0) {
    MDB_stat st{};
    MDB_envinfo info{};
    mdb_env_stat(env, &st);
    mdb_env_info(env, &info);
    out.page_size = st.ms_psize;
    out.last_page = info.me_last_pgno;
  }
  mdb_env_close(env);
  return out;
}

std::string data_file(const std::string& dir) { return dir + "/data.mdb"; }

void write_at(const std::string& path, std::size_t offset, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  std::string out;
  if (!f) return out;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

// What a reader saw in a damaged environment.
struct Seen {
  bool crashed = false;   // the child died (a signal; exit 1 after an ASan report)
  std::string status;     // how, when crashed
  bool opened = false;
  bool looked_up = false;  // every ledger_get() returned
  int right = 0, wrong = 0, absent = 0, errors = 0;
  std::string detail;  // the first kMaxDetail entries not read right: "<i>w" wrong, "a" absent, "e" error
  bool walked = false;  // export_all() returned
  bool exported = false;  // ... ok
  std::string export_error;
  int items = 0, damaged = 0;
  std::string summary() const {
    std::ostringstream s;
    if (looked_up) {
      s << "right=" << right << " wrong=" << wrong << " absent=" << absent << " errors=" << errors
        << " first=" << detail;
    } else {
      s << "no lookup result";
    }
    if (walked) s << "; export=" << export_error << " items=" << items << " damaged=" << damaged;
    if (crashed) s << "; crashed (" << status << ")" << (looked_up ? " in export_all" : " in the lookups");
    return s.str();
  }
};

struct Counter final : ExportVisitor {
  int items = 0, bad = 0;
  Status item(const ExportItem&) override {
    ++items;
    return {};
  }
  void damaged(std::string_view, std::string_view, std::string_view) override { ++bad; }
};

// Opens `dir` in a child process and reads everything; the child reports
// one line through a pipe.
Seen probe(const std::string& dir, bool keys = true) {
  int fds[2];
  if (::pipe(fds) != 0) {
    Seen failed;
    failed.crashed = true;
    failed.status = "pipe";
    return failed;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    {
      ManualClock clock(kT0);
      auto s = open_lmdb_store({.dir = dir, .sync = false}, {.clock = &clock});
      auto say = [&](const std::string& line) { [[maybe_unused]] auto w = ::write(fds[1], line.data(), line.size()); };
      if (!s) {
        say("open\n");
      } else {
        int right = 0, wrong = 0, absent = 0, errors = 0;
        std::string detail;
        auto note = [&](int i, char what) {
          if (wrong + absent + errors <= kMaxDetail) detail += std::to_string(i) + what + ",";
        };
        for (int i = 0; i < kEntries; ++i) {
          auto r = (*s)->ledger_get(id_of(i));
          if (!r) ++errors, note(i, 'e');
          else if (!r->has_value()) ++absent, note(i, 'a');
          else if (**r == entry_of(i, keys)) ++right;
          else ++wrong, note(i, 'w');
        }
        say("L " + std::to_string(right) + " " + std::to_string(wrong) + " " + std::to_string(absent) + " " +
            std::to_string(errors) + " " + (detail.empty() ? "-" : detail) + "\n");
        Counter c;
        auto e = (*s)->export_all(c);
        std::string why = e ? "ok" : e.error().message();
        for (auto& ch : why) if (ch == ' ') ch = '_';
        say("E " + why + " " + std::to_string(c.items) + " " + std::to_string(c.bad) + "\n");
      }
    }
    ::close(fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Seen seen;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    seen.crashed = true;
    seen.status = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                      : "exit " + std::to_string(WEXITSTATUS(status));
  }
  std::istringstream in(out);
  std::string tag;
  while (in >> tag) {
    if (tag == "L") {
      seen.opened = seen.looked_up = true;
      in >> seen.right >> seen.wrong >> seen.absent >> seen.errors >> seen.detail;
    } else if (tag == "E") {
      seen.walked = true;
      in >> seen.export_error >> seen.items >> seen.damaged;
      seen.exported = seen.export_error == "ok";
    }
  }
  return seen;
}

// The damage was noticed: the reader died (LMDB's assertion or a fault),
// or export_all() failed or reported damaged records.
bool damage_reported(const Seen& s) { return s.crashed || (s.walked && (!s.exported || s.damaged > 0)); }

class LmdbDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    layout_ = fill(dir_.path());
    ASSERT_EQ(layout_.page_size, 4096u) << "the page size of this platform";
    ASSERT_GT(layout_.last_page, 100u) << "several hundred pages";
  }
  // Data pages in the middle of the file: never 0 and 1, the meta pages.
  std::vector<std::size_t> middle_pages(int count) const {
    std::vector<std::size_t> out;
    for (int k = 1; k <= count; ++k) out.push_back(2 + (layout_.last_page - 2) * k / (count + 1));
    return out;
  }
  void overwrite_page(std::size_t page, const std::string& bytes) {
    ASSERT_GE(page, 2u);
    write_at(data_file(dir_.path()), page * layout_.page_size, bytes);
  }

  testing::TempDir dir_;
  Layout layout_;
};

TEST_F(LmdbDamage, UndamagedBaseline) {
  const Seen s = probe(dir_.path());
  EXPECT_EQ(s.summary(), "right=5000 wrong=0 absent=0 errors=0 first=-; export=ok items=5001 damaged=0");
}

TEST_F(LmdbDamage, ZeroedDataPages) {
  // Pages of the ledger itself (GarbageDataPages damages the ledger's keys too).
  testing::TempDir plain;
  layout_ = fill(plain.path(), false);
  ASSERT_GT(layout_.last_page, 100u) << "several hundred pages";
  for (auto page : middle_pages(3)) {
    write_at(data_file(plain.path()), page * layout_.page_size, std::string(layout_.page_size, '\0'));
  }
  const Seen s = probe(plain.path(), false);
  std::printf("zeroed pages: %s\n", s.summary().c_str());
  // Point lookups (the mail path) under LMDB 0.9.24: the entries of the
  // zeroed pages are errors (kUnavailable), never wrong, never absent.
  ASSERT_TRUE(s.looked_up) << s.summary();
  EXPECT_EQ(s.wrong, 0) << s.summary();
  EXPECT_EQ(s.absent, 0) << s.summary();
  EXPECT_GT(s.errors, 0) << s.summary();
  EXPECT_EQ(s.right + s.errors, kEntries);
  // The walk: LMDB aborts on its assertion IS_LEAF(mp) in mdb_cursor_next.
  EXPECT_TRUE(damage_reported(s)) << s.summary();
}

TEST_F(LmdbDamage, GarbageDataPages) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    testing::TempDir copy;
    std::filesystem::copy(dir_.path(), copy.path(), std::filesystem::copy_options::recursive |
                                                        std::filesystem::copy_options::overwrite_existing);
    std::mt19937_64 rng(seed);
    std::string garbage(layout_.page_size, '\0');
    for (auto& ch : garbage) ch = static_cast<char>(rng());
    const std::size_t page = 2 + rng() % (layout_.last_page - 1);
    write_at(data_file(copy.path()), page * layout_.page_size, garbage);
    const Seen s = probe(copy.path());
    std::printf("garbage seed %llu page %zu: %s\n", static_cast<unsigned long long>(seed), page, s.summary().c_str());
    // Lookups complete and never return another entry; some entries of a
    // garbage page read as absent (LMDB took it for a leaf without them).
    ASSERT_TRUE(s.looked_up) << "seed " << seed << ": " << s.summary();
    EXPECT_EQ(s.wrong, 0) << "seed " << seed << ": " << s.summary();
    if (s.right != kEntries) {
      EXPECT_TRUE(damage_reported(s)) << "seed " << seed << ": " << s.summary();
    }
    if (s.walked && s.exported) {
      EXPECT_GT(s.damaged, 0) << "seed " << seed << ": " << s.summary();
    }
  }
}

TEST_F(LmdbDamage, SingleBytesInValues) {
  const std::string file = read_file(data_file(dir_.path()));
  struct Hit {
    const char* where;
    int entry;
    int offset;  // from the start of the sender's bytes
  };
  // The value: version, time (5-byte varint), sender length, sender, ...
  const Hit hits[] = {{"version byte", 100, -7}, {"sender length", 200, -1},
                      {"recipient count", 400, 16}, {"recipient byte", 500, 20}};
  for (const auto& h : hits) {
    const std::string sender = entry_of(h.entry).sender;
    const auto pos = file.find(sender);
    ASSERT_NE(pos, std::string::npos);
    const std::size_t at = pos + static_cast<std::size_t>(h.offset);
    write_at(data_file(dir_.path()), at, std::string(1, static_cast<char>(file[at] ^ 0x5a)));
  }
  const Seen s = probe(dir_.path());
  std::printf("single bytes: %s\n", s.summary().c_str());
  // A byte of framing (version, a length, the count) is kMalformed, named by
  // the export; a byte inside a string decodes into another entry: the
  // codec has no checksum, so that one is wrong and unnoticed.
  EXPECT_EQ(s.detail, "100e,200e,400e,500w,") << s.summary();
  EXPECT_TRUE(s.walked && s.exported) << s.summary();
  EXPECT_EQ(s.damaged, 3) << s.summary();
}

}  // namespace
}  // namespace backstop::store
