// Writes a file so that readers (rbldnsd, rsync) only ever see the old or the
// new complete content: a temporary file in the same directory, fsync, rename
// over the target, fsync of the directory. If commit() is not reached (error,
// early return) the temporary file is removed.
// Thread-safety: one thread per AtomicFile.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace backstop::dnsbl {

// Output is buffered in chunks of this size before each write(2).
inline constexpr std::size_t kAtomicWriteBuffer = 1 << 20;

class AtomicFile {
 public:
  // Creates "<path>.tmp.XXXXXX" with `mode` (0644: rbldnsd runs as its own
  // user and must read it). kEnvironment when the directory is not writable.
  static Result<std::unique_ptr<AtomicFile>> create(const std::string& path, mode_t mode = 0644);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  Status write(std::string_view bytes);
  // Flushes, fsyncs, renames onto the target path and fsyncs the directory.
  Status commit();
  const std::string& temp_path() const noexcept { return temp_; }

 private:
  AtomicFile(std::string path, std::string temp, int fd);
  Status flush();

  std::string path_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
  std::string buffer_;
};

// Convenience: the whole content at once.
Status write_file_atomically(const std::string& path, std::string_view content, mode_t mode = 0644);

}  // namespace backstop::dnsbl
