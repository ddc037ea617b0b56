#include "classify/rules_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>


namespace backstop::classify {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSuffix = ".hsdb";

// Ours alone: owned by the effective user, writable by nobody else.
bool ours_alone(const struct stat& st) { return st.st_uid == ::geteuid() && (st.st_mode & 022) == 0; }

bool valid_key(std::string_view key) {
  return !key.empty() && key.size() <= 128 &&
         std::all_of(key.begin(), key.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Creates `dir` and its missing parents with mode 0700; true when `dir` is
// then a directory that is ours alone (not a symbolic link).
bool usable_dir(const std::string& dir) {
  std::error_code ec;
  if (dir.empty() || dir.front() != '/') return false;
  const fs::path p(dir);
  fs::path partial;
  for (const auto& part : p) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  return ours_alone(st);
}

// Removes the oldest databases beyond kMaxCachedDatabases.
void prune(const std::string& dir) {
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, fs::path>> dbs;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() != kSuffix) continue;
    const auto t = fs::last_write_time(p, ec);
    if (!ec) dbs.emplace_back(t, p);
  }
  if (dbs.size() <= kMaxCachedDatabases) return;
  std::sort(dbs.begin(), dbs.end());
  for (std::size_t i = 0; i + kMaxCachedDatabases < dbs.size(); ++i) fs::remove(dbs[i].second, ec);
}

}  // namespace

std::optional<std::string> DirectoryCache::load(std::string_view key) {
  if (!valid_key(key)) return std::nullopt;
  const std::string path = dir_ + "/" + std::string(key) + std::string(kSuffix);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<std::string> out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ours_alone(st) && st.st_size > 0 &&
      static_cast<std::size_t>(st.st_size) <= kMaxCachedDatabaseBytes) {
    std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < bytes.size()) {
      const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got == bytes.size()) out = std::move(bytes);
  }
  ::close(fd);
  return out;
}

void DirectoryCache::store(std::string_view key, std::string_view bytes) {
  if (!valid_key(key) || bytes.empty() || bytes.size() > kMaxCachedDatabaseBytes) return;
  const std::string path = dir_ + "/" + std::string(key) + std::string(kSuffix);
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  std::size_t put = 0;
  while (put < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + put, bytes.size() - put);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    put += static_cast<std::size_t>(n);
  }
  const bool ok = ::close(fd) == 0 && put == bytes.size();
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return;
  }
  prune(dir_);
}

std::optional<std::string> default_cache_dir() {
  std::string dir;
  if (const char* v = std::getenv("BACKSTOP_CACHE_DIR"); v != nullptr) {
    if (*v == '\0') return std::nullopt;
    dir = v;
  } else if (const char* c = std::getenv("CACHE_DIRECTORY"); c != nullptr && *c != '\0') {
    dir = std::string(c).substr(0, std::string_view(c).find(':'));
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x == '/') {
    dir = std::string(x) + "/backstop";
  } else if (const char* h = std::getenv("HOME"); h != nullptr && *h == '/') {
    dir = std::string(h) + "/.cache/backstop";
  } else {
    return std::nullopt;
  }
  if (!usable_dir(dir)) return std::nullopt;
  return dir;
}

DatabaseCache* default_database_cache() {
  static DatabaseCache* cache = [] () -> DatabaseCache* {
    auto dir = default_cache_dir();
    return dir ? new DirectoryCache(std::move(*dir)) : nullptr;
  }();
  return cache;
}

}  // namespace backstop::classify
