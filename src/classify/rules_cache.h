// Compiled rule databases kept between processes. Compiling the built-in
// rules with vectorscan costs about 0.4 s of CPU, paid by every process that
// classifies (each `backstop check`, `scan`, `classify`, a `serve` start or
// reload); a database serialized once and read back costs milliseconds.
// Internal to classify (rules.cc).
//
// The key of a database is a SHA-256 of everything its compilation depends
// on (the vectorscan version, and every pattern with its flags and id), so a
// changed rule or library never reads a stale database. A cached database
// is machine code for the matcher: the directory and files are used only
// when they belong to the effective user and nobody else can write them,
// files are replaced atomically (rename), and vectorscan's own checks (magic,
// version, platform, CRC of the bytecode) reject a damaged one. Every
// failure means "compile as if there were no cache", never an error.
// Thread-safety: DirectoryCache is safe to use from several threads and
// processes at once.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace backstop::classify {

// Bytes of a serialized database read back at most; the built-in rules
// serialize to well under 4 MiB.
inline constexpr std::size_t kMaxCachedDatabaseBytes = 64u << 20;
// Databases a cache directory keeps; the oldest beyond this are removed when
// one is stored (each rules text or vectorscan version makes new ones).
inline constexpr std::size_t kMaxCachedDatabases = 32;

class DatabaseCache {
 public:
  virtual ~DatabaseCache() = default;
  // The bytes stored under `key` (hex), or nullopt.
  virtual std::optional<std::string> load(std::string_view key) = 0;
  // Stores `bytes` under `key`; failures are ignored.
  virtual void store(std::string_view key, std::string_view bytes) = 0;
};

// A directory of `<key>.hsdb` files.
class DirectoryCache final : public DatabaseCache {
 public:
  explicit DirectoryCache(std::string dir) : dir_(std::move(dir)) {}
  std::optional<std::string> load(std::string_view key) override;
  void store(std::string_view key, std::string_view bytes) override;

 private:
  std::string dir_;
};

// The directory the process's cache uses, created (mode 0700) if needed:
// $BACKSTOP_CACHE_DIR (set and empty: no cache), else systemd's
// $CACHE_DIRECTORY (its first entry), else $XDG_CACHE_HOME/backstop, else
// $HOME/.cache/backstop. nullopt when none is set, or the directory cannot
// be made or is not the effective user's alone (owner, no group or world
// write).
std::optional<std::string> default_cache_dir();

// The process-wide cache over default_cache_dir(), resolved once; null when
// there is none.
DatabaseCache* default_database_cache();

}  // namespace backstop::classify
