// Readers: open_source / detect_store (mailbox.h). Files are read in chunks
// through MboxSplitter, so memory stays bounded by one message.
#include "mail/mailbox.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>

#include "mail/header.h"
#include "mail/mbox_internal.h"

namespace backstop::mail {

const char* store_kind_name(StoreKind k) noexcept {
  switch (k) {
    case StoreKind::kFile: return "file";
    case StoreKind::kMbox: return "mbox";
    case StoreKind::kMaildir: return "maildir";
    case StoreKind::kMh: return "mh";
    case StoreKind::kDirectory: return "directory";
  }
  return "unknown";
}

namespace {

namespace fs = std::filesystem;

// Bytes read per read(2): large enough to amortise system calls, small
// enough that a reader's buffer stays far below one message cap.
constexpr std::size_t kReadChunk = 1u << 20;
// Directory nesting followed below a root; deeper trees are reported, not walked
// (real mail stores nest < 10; symlinked directories are never followed).
constexpr std::size_t kMaxDirectoryDepth = 64;

ReadError read_error(const std::string& location, std::size_t index, Code code, std::string message) {
  return ReadError{location, index, Error(code, std::move(message))};
}

Code errno_code(int e) {
  return (e == EACCES || e == EPERM) ? Code::kPermission : (e == ENOENT ? Code::kNotFound : Code::kEnvironment);
}

// An open file descriptor (RAII).
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads up to `n` bytes, retrying short reads and EINTR. -1 on error.
ssize_t read_full(int fd, char* buf, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, buf + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

// Messages of one file: an mbox when its first line is a From_ line,
// otherwise a single message.
class FileSource final : public MessageSource {
 public:
  FileSource(std::string path, std::size_t max_bytes) : path_(std::move(path)), max_(max_bytes), splitter_(max_bytes) {}

  std::optional<expected<RawMessage, ReadError>> next() override {
    if (mode_ == Mode::kInit) return start();
    if (mode_ == Mode::kMbox) return next_mbox();
    return std::nullopt;
  }

 private:
  enum class Mode { kInit, kMbox, kDone };

  std::optional<expected<RawMessage, ReadError>> fail_file(Code code, std::string msg) {
    mode_ = Mode::kDone;
    return unexpected<ReadError>(read_error(path_, 0, code, std::move(msg)));
  }

  std::optional<expected<RawMessage, ReadError>> start() {
    fd_ = Fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd_.get() < 0) return fail_file(errno_code(errno), std::string("cannot open: ") + std::strerror(errno));
    // Small files get a buffer of their size (+1 to see the end in one read).
    struct stat st {};
    std::size_t chunk = kReadChunk;
    if (::fstat(fd_.get(), &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::size_t>(st.st_size) < kReadChunk) {
      chunk = static_cast<std::size_t>(st.st_size) + 1;
    }
    buf_.resize(chunk);
    const ssize_t n = read_full(fd_.get(), buf_.data(), buf_.size());
    if (n < 0) return fail_file(Code::kEnvironment, std::string("read error: ") + std::strerror(errno));
    if (n == 0) return fail_file(Code::kMalformed, "empty file, not a mail message");
    const std::string_view first(buf_.data(), static_cast<std::size_t>(n));
    if (!detail::looks_like_mail(first)) return fail_file(Code::kMalformed, "not a mail message");
    std::string_view rest = first.substr(leading_blank_lines(first));
    const std::string_view line = rest.substr(0, rest.find('\n'));
    if (detail::is_from_line(line.substr(0, line.size() - (line.ends_with('\r') ? 1 : 0)))) {
      mode_ = Mode::kMbox;
      splitter_.feed(first);
      eof_ = static_cast<std::size_t>(n) < buf_.size();
      return next_mbox();
    }
    return single(first, static_cast<std::size_t>(n) < buf_.size());
  }

  // The whole file is one message; `first` is its first chunk.
  std::optional<expected<RawMessage, ReadError>> single(std::string_view first, bool at_eof) {
    RawMessage m;
    m.location = path_;
    m.bytes.assign(first);
    while (!at_eof) {
      if (m.bytes.size() > max_) {
        return fail_file(Code::kTooLarge, "message over the cap of " + std::to_string(max_) + " bytes");
      }
      const ssize_t n = read_full(fd_.get(), buf_.data(), buf_.size());
      if (n < 0) return fail_file(Code::kEnvironment, std::string("read error: ") + std::strerror(errno));
      m.bytes.append(buf_.data(), static_cast<std::size_t>(n));
      at_eof = static_cast<std::size_t>(n) < buf_.size();
    }
    if (m.bytes.size() > max_) {
      return fail_file(Code::kTooLarge, "message over the cap of " + std::to_string(max_) + " bytes");
    }
    mode_ = Mode::kDone;
    release();
    return m;
  }

  std::optional<expected<RawMessage, ReadError>> next_mbox() {
    for (;;) {
      if (auto r = splitter_.next()) {
        if (!*r) return unexpected<ReadError>(ReadError{path_, index_++, std::move(*r).error()});
        RawMessage m = std::move(**r);
        m.location = path_;
        ++index_;
        if (!detail::looks_like_mail(std::string_view(m.bytes).substr(0, kReadChunk))) {
          return unexpected<ReadError>(read_error(path_, m.index, Code::kMalformed,
              "mbox entry at offset " + std::to_string(m.offset) + " is not a mail message"));
        }
        return m;
      }
      if (finished_) {
        mode_ = Mode::kDone;
        release();
        return std::nullopt;
      }
      if (eof_) {
        splitter_.finish();
        finished_ = true;
        continue;
      }
      const ssize_t n = read_full(fd_.get(), buf_.data(), buf_.size());
      if (n < 0) {
        return fail_file(Code::kEnvironment, std::string("read error: ") + std::strerror(errno));
      }
      splitter_.feed(std::string_view(buf_.data(), static_cast<std::size_t>(n)));
      eof_ = static_cast<std::size_t>(n) < buf_.size();
    }
  }

  void release() {
    fd_ = Fd();
    std::string().swap(buf_);
  }

  std::string path_;
  std::size_t max_;
  MboxSplitter splitter_;
  Mode mode_ = Mode::kInit;
  Fd fd_;
  std::string buf_;
  bool eof_ = false;
  bool finished_ = false;
  std::size_t index_ = 0;
};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Name order: numeric names (MH) by value, others bytewise; deterministic.
bool name_less(const std::string& a, const std::string& b) {
  if (all_digits(a) && all_digits(b)) {
    const std::string_view x = std::string_view(a).substr(std::min(a.find_first_not_of('0'), a.size() - 1));
    const std::string_view y = std::string_view(b).substr(std::min(b.find_first_not_of('0'), b.size() - 1));
    if (x.size() != y.size()) return x.size() < y.size();
    if (x != y) return x < y;
  }
  return a < b;
}

struct Listing {
  std::vector<std::string> files;  // names, sorted
  std::vector<std::string> dirs;   // names, sorted; symlinks to directories excluded
};

Result<Listing> list_dir(const std::string& path) {
  std::error_code ec;
  fs::directory_iterator it(path, ec);
  if (ec) return fail(Code::kEnvironment, "cannot list " + path + ": " + ec.message());
  Listing l;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return fail(Code::kEnvironment, "cannot list " + path + ": " + ec.message());
    const std::string name = it->path().filename().string();
    std::error_code sec;
    const auto link = it->symlink_status(sec);
    if (sec) continue;
    if (fs::is_directory(link)) {
      l.dirs.push_back(name);
    } else if (fs::is_regular_file(it->status(sec)) && !sec) {
      l.files.push_back(name);
    }
  }
  std::sort(l.files.begin(), l.files.end(), name_less);
  std::sort(l.dirs.begin(), l.dirs.end(), name_less);
  return l;
}

bool contains(const std::vector<std::string>& v, std::string_view name) {
  return std::find(v.begin(), v.end(), name) != v.end();
}

// Depth-first walk of a directory tree in name order: the files of a
// directory, then its subdirectories. A Maildir (has cur/ or new/) yields
// cur/ and new/ (never tmp/) and its Maildir++ ".folders"; elsewhere hidden
// entries are skipped. Each file is read by a FileSource.
class TreeSource final : public MessageSource {
 public:
  TreeSource(std::string root, std::size_t max_bytes) : max_(max_bytes) { dirs_.push_back({std::move(root), 0}); }

  std::optional<expected<RawMessage, ReadError>> next() override {
    for (;;) {
      if (cur_) {
        if (auto r = cur_->next()) return r;
        cur_.reset();
      }
      if (!files_.empty()) {
        cur_ = std::make_unique<FileSource>(std::move(files_.front()), max_);
        files_.pop_front();
        continue;
      }
      if (dirs_.empty()) return std::nullopt;
      auto [dir, depth] = std::move(dirs_.back());
      dirs_.pop_back();
      if (auto err = expand(dir, depth)) return unexpected<ReadError>(std::move(*err));
    }
  }

 private:
  std::optional<ReadError> expand(const std::string& dir, std::size_t depth) {
    auto listing = list_dir(dir);
    if (!listing) return read_error(dir, 0, listing.error().code(), listing.error().message());
    const bool maildir = contains(listing->dirs, "cur") || contains(listing->dirs, "new");
    std::vector<std::string> subdirs;
    if (maildir) {
      for (const char* sub : {"cur", "new"}) {
        if (!contains(listing->dirs, sub)) continue;
        auto inner = list_dir(dir + "/" + sub);
        if (!inner) return read_error(dir + "/" + sub, 0, inner.error().code(), inner.error().message());
        for (const std::string& f : inner->files) {
          if (f.front() != '.') files_.push_back(dir + "/" + sub + "/" + f);
        }
      }
      for (const std::string& d : listing->dirs) {
        if (d.front() == '.' && d != "." && d != "..") subdirs.push_back(d);
      }
    } else {
      for (const std::string& f : listing->files) {
        if (f.front() != '.') files_.push_back(dir + "/" + f);
      }
      for (const std::string& d : listing->dirs) {
        if (d.front() != '.') subdirs.push_back(d);
      }
    }
    if (!subdirs.empty() && depth + 1 > kMaxDirectoryDepth) {
      return read_error(dir, 0, Code::kTooLarge, "directory nesting deeper than " + std::to_string(kMaxDirectoryDepth));
    }
    for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) dirs_.push_back({dir + "/" + *it, depth + 1});
    return std::nullopt;
  }

  std::size_t max_;
  std::vector<std::pair<std::string, std::size_t>> dirs_;  // directories still to expand (a stack)
  std::deque<std::string> files_;                           // files of the last expanded directory
  std::unique_ptr<FileSource> cur_;
};

Result<std::string> first_line(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return fail(errno_code(errno), "cannot open " + path + ": " + std::strerror(errno));
  std::string buf(4096, '\0');
  const ssize_t n = read_full(fd.get(), buf.data(), buf.size());
  if (n < 0) return fail(Code::kEnvironment, "cannot read " + path + ": " + std::strerror(errno));
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

}  // namespace

Result<StoreKind> detect_store(const std::string& path) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return fail(Code::kNotFound, "no such file or directory: " + path);
  if (fs::is_directory(st)) {
    auto l = list_dir(path);
    if (!l) return unexpected<Error>(std::move(l).error());
    if (contains(l->dirs, "cur") || contains(l->dirs, "new")) return StoreKind::kMaildir;
    bool numeric = false, other = false;
    for (const std::string& f : l->files) {
      if (f.front() == '.') continue;
      (all_digits(f) ? numeric : other) = true;
    }
    return numeric && !other && l->dirs.empty() ? StoreKind::kMh : StoreKind::kDirectory;
  }
  auto head = first_line(path);
  if (!head) return unexpected<Error>(std::move(head).error());
  std::string_view s = *head;
  s.remove_prefix(leading_blank_lines(s));
  std::string_view line = s.substr(0, s.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);
  return detail::is_from_line(line) ? StoreKind::kMbox : StoreKind::kFile;
}

Result<std::unique_ptr<MessageSource>> open_source(const std::string& path, std::size_t max_message_bytes) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return fail(Code::kNotFound, "no such file or directory: " + path);
  if (fs::is_directory(st)) {
    fs::directory_iterator probe(path, ec);
    if (ec) return fail(errno_code(ec.value()), "cannot list " + path + ": " + ec.message());
    return std::unique_ptr<MessageSource>(std::make_unique<TreeSource>(path, max_message_bytes));
  }
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return fail(errno_code(errno), "cannot open " + path + ": " + std::strerror(errno));
  return std::unique_ptr<MessageSource>(std::make_unique<FileSource>(path, max_message_bytes));
}

}  // namespace backstop::mail
