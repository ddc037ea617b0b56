#include "classify/rules_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "classify/rules.h"

namespace backstop::classify {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "backstop-rules-cache-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Counts what reaches the directory.
class Counting final : public DatabaseCache {
 public:
  explicit Counting(std::string dir) : inner_(std::move(dir)) {}
  std::optional<std::string> load(std::string_view key) override {
    auto r = inner_.load(key);
    ++(r ? hits : misses);
    return r;
  }
  void store(std::string_view key, std::string_view bytes) override {
    ++stores;
    inner_.store(key, bytes);
  }
  int hits = 0, misses = 0, stores = 0;

 private:
  DirectoryCache inner_;
};

constexpr const char* kRules =
    "a subject bounce 1.0 /^returned mail/\n"
    "b body autoreply 1.0 /out of (the )?office/\n"
    "c body bounce 0.5 \"undeliverable\"\n";

std::size_t databases_in(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".hsdb";
  return n;
}

// Which rules fire on `subject` and `body`.
std::string fired(const Rules& r, const std::string& subject, const std::string& body) {
  std::vector<char> f(r.rules().size(), 0);
  for (std::size_t t = 0; t < r.targets().size(); ++t) {
    const auto kind = r.targets()[t].target.kind;
    EXPECT_TRUE(r.match(t, kind == TargetKind::kSubject ? subject : body, f));
  }
  std::string out;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i]) out += r.rules()[i].name;
  }
  return out;
}

TEST(RulesCache, SecondCompileReadsTheDatabasesBack) {
  TempDir dir;
  Counting cache(dir.path());
  auto first = compile_rules_cached(kRules, &cache);
  ASSERT_TRUE(first) << first.error().to_string();
  EXPECT_EQ(cache.stores, 2);  // subject and body
  EXPECT_EQ(cache.hits, 0);
  EXPECT_EQ(databases_in(dir.path()), 2u);
  auto second = compile_rules_cached(kRules, &cache);
  ASSERT_TRUE(second);
  EXPECT_EQ(cache.hits, 2);
  EXPECT_EQ(cache.stores, 2);
  EXPECT_EQ(fired(**second, "Returned mail: see transcript", "I am out of the office, undeliverable"), "abc");
  EXPECT_EQ(fired(**second, "hello", "nothing here"), "");
  // A changed rule is a different key: compiled and stored, never the old one.
  auto changed = compile_rules_cached(std::string(kRules) + "d body bounce 1.0 /mailer-daemon/\n", &cache);
  ASSERT_TRUE(changed);
  EXPECT_EQ(fired(**changed, "x", "from MAILER-DAEMON"), "d");
  EXPECT_EQ(cache.stores, 3);
}

TEST(RulesCache, DamagedOrForeignFilesAreCompiledAgain) {
  TempDir dir;
  Counting cache(dir.path());
  ASSERT_TRUE(compile_rules_cached(kRules, &cache));
  for (const auto& e : fs::directory_iterator(dir.path())) {
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.write("garbage garbage garbage", 23);  // the bytecode's CRC no longer matches
  }
  auto again = compile_rules_cached(kRules, &cache);
  ASSERT_TRUE(again);
  EXPECT_EQ(cache.stores, 4);  // both rejected by the matcher, compiled and replaced
  EXPECT_EQ(fired(**again, "Returned mail", "out of office"), "ab");
  // A file others may write is not read.
  for (const auto& e : fs::directory_iterator(dir.path())) ::chmod(e.path().c_str(), 0666);
  const int hits = cache.hits;
  ASSERT_TRUE(compile_rules_cached(kRules, &cache));
  EXPECT_EQ(cache.hits, hits);
  EXPECT_EQ(cache.stores, 6);  // replaced with files of mode 0600
  ASSERT_TRUE(compile_rules_cached(kRules, &cache));
  EXPECT_EQ(cache.hits, hits + 2);
}

TEST(RulesCache, KeepsAtMostItsBoundAndRefusesBadKeys) {
  TempDir dir;
  DirectoryCache cache(dir.path());
  for (std::size_t i = 0; i < kMaxCachedDatabases + 8; ++i) cache.store(std::string(64, 'a' + static_cast<char>(i % 6)) + std::to_string(i), "x");
  EXPECT_EQ(databases_in(dir.path()), kMaxCachedDatabases);
  cache.store("../escape", "x");
  cache.store("ABC", "x");
  EXPECT_FALSE(fs::exists(fs::path(dir.path()).parent_path() / "escape.hsdb"));
  EXPECT_FALSE(cache.load("../escape"));
  EXPECT_EQ(databases_in(dir.path()), kMaxCachedDatabases);
}

TEST(RulesCache, DirectoryFromTheEnvironmentOnlyWhenOursAlone) {
  TempDir dir;
  const char* saved = std::getenv("BACKSTOP_CACHE_DIR");
  const std::string keep = saved ? saved : "";
  const std::string sub = dir.path() + "/a/b";
  ::setenv("BACKSTOP_CACHE_DIR", sub.c_str(), 1);
  auto d = default_cache_dir();
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, sub);
  struct stat st {};
  ASSERT_EQ(::stat(sub.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ::chmod(sub.c_str(), 0770);  // group-writable: not used
  EXPECT_FALSE(default_cache_dir());
  ::setenv("BACKSTOP_CACHE_DIR", "", 1);  // set and empty: no cache
  EXPECT_FALSE(default_cache_dir());
  ::setenv("BACKSTOP_CACHE_DIR", "relative/dir", 1);
  EXPECT_FALSE(default_cache_dir());
  if (saved) {
    ::setenv("BACKSTOP_CACHE_DIR", keep.c_str(), 1);
  } else {
    ::unsetenv("BACKSTOP_CACHE_DIR");
  }
}

}  // namespace
}  // namespace backstop::classify
