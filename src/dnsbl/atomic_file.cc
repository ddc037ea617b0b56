#include "dnsbl/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace backstop::dnsbl {
namespace {

unexpected<Error> os_error(const std::string& what) {
  return fail(Code::kEnvironment, what + ": " + std::strerror(errno));
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

AtomicFile::AtomicFile(std::string path, std::string temp, int fd)
    : path_(std::move(path)), temp_(std::move(temp)), fd_(fd) {
  buffer_.reserve(kAtomicWriteBuffer);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

Result<std::unique_ptr<AtomicFile>> AtomicFile::create(const std::string& path, mode_t mode) {
  std::string tmpl = path + ".tmp.XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) return os_error("cannot create a temporary file for " + path);
  std::string temp(buf.data());
  if (::fchmod(fd, mode) != 0) {
    auto e = os_error("chmod " + temp);
    ::close(fd);
    ::unlink(temp.c_str());
    return e;
  }
  return std::unique_ptr<AtomicFile>(new AtomicFile(path, std::move(temp), fd));
}

Status AtomicFile::flush() {
  std::size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error("write " + temp_);
    }
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
  return {};
}

Status AtomicFile::write(std::string_view bytes) {
  if (fd_ < 0) return fail(Code::kInternal, "write after commit: " + path_);
  buffer_.append(bytes);
  if (buffer_.size() >= kAtomicWriteBuffer) return flush();
  return {};
}

Status AtomicFile::commit() {
  if (fd_ < 0) return fail(Code::kInternal, "commit twice: " + path_);
  BACKSTOP_TRY(flush());
  if (::fsync(fd_) != 0) return os_error("fsync " + temp_);
  if (::close(fd_) != 0) {
    fd_ = -1;
    return os_error("close " + temp_);
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), path_.c_str()) != 0) return os_error("rename " + temp_ + " to " + path_);
  committed_ = true;
  // Make the rename itself durable.
  int dfd = ::open(dir_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Status write_file_atomically(const std::string& path, std::string_view content, mode_t mode) {
  auto f = AtomicFile::create(path, mode);
  if (!f) return unexpected<Error>(std::move(f).error());
  BACKSTOP_TRY((*f)->write(content));
  return (*f)->commit();
}

}  // namespace backstop::dnsbl
