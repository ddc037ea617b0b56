#include "batv/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/text.h"

namespace backstop::batv {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode_hex(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

bool is_digit_word(std::string_view w) { return w.size() == 1 && w[0] >= '0' && w[0] <= '9'; }

unexpected<Error> bad_line(std::size_t n, std::string_view why) {
  return fail(Code::kMalformed, "BATV key file line " + std::to_string(n) + ": " + std::string(why));
}

unexpected<Error> errno_error(Code code, const std::string& what, const std::string& path) {
  return fail(code, what + " " + path + ": " + std::strerror(errno));
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(Code::kEnvironment, std::string("write: ") + std::strerror(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Creates `path` exclusively (mode 0600) holding `text`; *existed = true if
// something was already there (nothing is written then). With `owner` and
// when running as root, the file gets owner's user and group.
Status create_exclusive(const std::string& path, std::string_view text, bool* existed,
                        const struct stat* owner = nullptr) {
  *existed = false;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      *existed = true;
      return {};
    }
    return errno_error(Code::kEnvironment, "cannot create BATV key file", path);
  }
  Status s = ::fchmod(fd, 0600) == 0 ? Status{} : errno_error(Code::kEnvironment, "chmod", path);
  if (s && owner && ::geteuid() == 0 && ::fchown(fd, owner->st_uid, owner->st_gid) != 0)
    s = errno_error(Code::kEnvironment, "chown", path);
  if (s) s = write_all(fd, text);
  if (s && ::fsync(fd) != 0) s = errno_error(Code::kEnvironment, "fsync", path);
  ::close(fd);
  if (!s) ::unlink(path.c_str());
  return s;
}

}  // namespace

Result<KeyRing> parse_key_file(std::string_view text) {
  if (text.size() > kMaxKeyFileBytes) return fail(Code::kTooLarge, "BATV key file over 64 KiB");
  KeyRing ring;
  int sign_key = -1;
  std::size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text::trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    auto sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) return bad_line(line_no, "expected '<digit> <hex secret>' or 'sign <digit>'");
    std::string_view first = line.substr(0, sp), second = text::trim(line.substr(sp));
    if (first == "sign") {
      if (!is_digit_word(second)) return bad_line(line_no, "'sign' takes one digit 0-9");
      sign_key = second[0] - '0';
      continue;
    }
    if (!is_digit_word(first)) return bad_line(line_no, "key number must be one digit 0-9");
    std::string secret;
    if (!decode_hex(second, &secret)) return bad_line(line_no, "secret must be an even number of hex digits");
    BACKSTOP_TRY(ring.add(first[0] - '0', std::move(secret)));
  }
  if (ring.empty()) return fail(Code::kNotFound, "BATV key file holds no key");
  if (sign_key >= 0) BACKSTOP_TRY(ring.set_signing_key(sign_key));
  return ring;
}

std::string format_key_file(int key, std::string_view secret) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out =
      "# backstop BATV keys: '<digit> <hex secret>' per line, 'sign <digit>' picks the\n"
      "# signing key (default: the first). Keep mode 0600. See docs/operations.md.\n";
  out.push_back(static_cast<char>('0' + key));
  out.push_back(' ');
  for (unsigned char c : secret) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  out.push_back('\n');
  return out;
}

Result<std::string> read_key_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return fail(Code::kNotFound, "BATV key file " + path + " does not exist");
    if (errno == ELOOP) return fail(Code::kPermission, "BATV key file " + path + " is a symlink: refused");
    return errno_error(errno == EACCES ? Code::kPermission : Code::kEnvironment,
                       "cannot open BATV key file", path);
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return errno_error(Code::kEnvironment, "cannot stat BATV key file", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(Code::kPermission, "BATV key file " + path + " is not a regular file: refused");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(Code::kPermission, "BATV key file " + path + " has mode " + mode +
                                       " (group/world accessible): refused; run chmod 600");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return errno_error(Code::kEnvironment, "cannot read BATV key file", path);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxKeyFileBytes) {
      ::close(fd);
      return fail(Code::kTooLarge, "BATV key file " + path + " is over 64 KiB");
    }
  }
  ::close(fd);
  return text;
}

Result<KeyRing> load_key_file(const std::string& path) {
  auto text = read_key_file(path);
  BACKSTOP_TRY(text);
  return parse_key_file(*text);
}

Result<KeyRing> load_or_create_key_file(const std::string& path, Random& random) {
  auto ring = load_key_file(path);
  if (ring || ring.error().code() != Code::kNotFound) return ring;
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) return ring;  // exists but holds no key: do not overwrite
  auto created = create_key_file(path, random);
  // Another process may have created it meanwhile: load whichever is there.
  if (!created && created.error().code() != Code::kInvalidArgument) return unexpected<Error>(created.error());
  return load_key_file(path);
}

Status create_key_file(const std::string& path, Random& random) {
  std::vector<std::uint8_t> secret(kGeneratedSecretBytes);
  BACKSTOP_TRY(random.fill(secret));
  bool existed = false;
  BACKSTOP_TRY(create_exclusive(
      path, format_key_file(0, std::string_view(reinterpret_cast<const char*>(secret.data()), secret.size())),
      &existed));
  if (existed) {
    return fail(Code::kInvalidArgument, "BATV key file " + path +
                                            " already exists: use `backstop batv rotate` to add a key");
  }
  return {};
}

Result<std::string> rotated_key_file(std::string_view text, Random& random, int* new_key) {
  auto ring = parse_key_file(text);
  BACKSTOP_TRY(ring);
  const int current = ring->signing_key().value_or(0);
  int next = -1;
  for (int i = 1; i <= 10 && next < 0; ++i) {
    const int k = (current + i) % 10;
    if (!ring->find(k)) next = k;
  }
  if (next < 0) {
    return fail(Code::kInvalidArgument,
                "all ten key digits are in use: remove a retired key (one whose tags have expired) first");
  }
  std::vector<std::uint8_t> secret(kGeneratedSecretBytes);
  BACKSTOP_TRY(random.fill(secret));
  std::string out;
  // Keep every line but the old `sign` choice.
  std::string_view rest = text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (text::trim(line).starts_with("sign")) continue;
    out.append(line);
    out.push_back('\n');
  }
  std::string added = format_key_file(next, std::string_view(reinterpret_cast<const char*>(secret.data()), secret.size()));
  out.append(added.substr(added.rfind('\n', added.size() - 2) + 1));  // its key line only
  out += "sign " + std::to_string(next) + "\n";
  if (out.size() > kMaxKeyFileBytes) {
    return fail(Code::kTooLarge, "the rotated key file would be larger than " + std::to_string(kMaxKeyFileBytes) +
                                     " bytes: remove retired keys and comments first");
  }
  *new_key = next;
  return out;
}

Status replace_key_file(const std::string& path, std::string_view text) {
  const std::string tmp = path + ".new";
  ::unlink(tmp.c_str());
  // The replacement keeps the owner of the file it replaces: `batv rotate`
  // run as root must not take the key file from the user serve runs as.
  struct stat old {};
  const bool had = ::lstat(path.c_str(), &old) == 0 && S_ISREG(old.st_mode);
  bool existed = false;
  BACKSTOP_TRY(create_exclusive(tmp, text, &existed, had ? &old : nullptr));
  if (existed) return fail(Code::kEnvironment, "cannot create " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = errno_error(Code::kEnvironment, "cannot rename over BATV key file", path);
    ::unlink(tmp.c_str());
    return s;
  }
  return {};
}

}  // namespace backstop::batv
