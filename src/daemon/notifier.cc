#include "daemon/notifier.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/ip.h"
#include "common/thread_name.h"
#include "net/listen.h"

extern char** environ;

namespace backstop::daemon {

Notifier::Notifier(std::function<void(const std::string&)> log)
    : log_(std::move(log)), thread_([this] {
        common::set_thread_name("bs-notifier");
        run();
      }) {}

Notifier::~Notifier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool Notifier::send(std::string sendmail, std::string to, std::string subject, std::string body) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueuedNotices) return false;
    queue_.push_back({std::move(sendmail), std::move(to), std::move(subject), std::move(body)});
  }
  cv_.notify_one();
  return true;
}

void Notifier::run() {
  for (;;) {
    Notice n;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      n = std::move(queue_.front());
      queue_.pop_front();
    }
    deliver(n);
  }
}

namespace {

// One SMTP reply, all its lines; the code of the last one, or 0 when the
// peer closed, timed out or sent something that is not a reply.
int read_reply(int fd, std::string& buf, std::string* text) {
  for (;;) {
    // A complete reply ends with a line "DDD " (or "DDD" alone).
    std::size_t start = 0;
    for (;;) {
      auto nl = buf.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(buf.data() + start, nl - start);
      if (line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
          std::isdigit(static_cast<unsigned char>(line[1])) && std::isdigit(static_cast<unsigned char>(line[2])) &&
          (line.size() == 3 || line[3] == ' ' || line[3] == '\r')) {
        const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (text) *text = std::string(line.substr(0, std::min<std::size_t>(line.size(), 200)));
        buf.erase(0, nl + 1);
        return code;
      }
      if (line.size() < 4 || line[3] != '-') return 0;
      start = nl + 1;
    }
    if (buf.size() > kMaxSmtpReplyBytes) return 0;
    char chunk[1024];
    ssize_t r = ::recv(fd, chunk, sizeof chunk, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    buf.append(chunk, static_cast<std::size_t>(r));
  }
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(w));
  }
  return true;
}

}  // namespace

std::string Notifier::message(const Notice& n, bool crlf) {
  const char* eol = crlf ? "\r\n" : "\n";
  std::string msg = std::string("To: <") + n.to + ">" + eol + "Subject: " + n.subject + eol +
                    "Auto-Submitted: auto-generated" + eol + "Content-Type: text/plain; charset=utf-8" + eol + eol;
  // The body, line by line: CRLF on the wire, and a leading dot doubled (RFC 5321 4.5.2).
  std::string_view body = n.body;
  while (true) {
    auto nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    if (crlf && line.starts_with('.')) msg += '.';
    msg.append(line);
    msg += eol;
    if (nl == std::string_view::npos) break;
    body.remove_prefix(nl + 1);
  }
  return msg;
}

Status Notifier::submit(const Notice& n, std::string_view host_port) {
  auto hp = net::split_host_port(host_port);
  if (!hp) return unexpected<Error>(hp.error());
  auto addr = ip::parse(hp->first == "localhost" ? "127.0.0.1" : hp->first);
  if (!addr) return unexpected<Error>(addr.error());
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (addr->v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(hp->second);
    std::memcpy(&a->sin6_addr, addr->bytes.data(), 16);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(hp->second);
    std::memcpy(&a->sin_addr, addr->bytes.data(), 4);
    len = sizeof *a;
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Code::kEnvironment, std::string("socket: ") + std::strerror(errno));
  timeval tv{kSendmailTimeoutSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return fail(Code::kUnavailable, "connect " + std::string(host_port) + ": " + std::strerror(errno));
  std::string buf, text;
  auto step = [&](std::string_view cmd, int want) -> Status {
    if (!cmd.empty() && !send_all(fd, cmd)) return fail(Code::kUnavailable, "SMTP write failed");
    const int code = read_reply(fd, buf, &text);
    if (code / 100 != want / 100) {
      return fail(Code::kUnavailable, "SMTP " + std::string(cmd.substr(0, cmd.find(' '))) + ": " +
                                          (code ? text : std::string("no reply")));
    }
    return {};
  };
  BACKSTOP_TRY(step("", 220));
  BACKSTOP_TRY(step("EHLO backstop\r\n", 250));
  BACKSTOP_TRY(step("MAIL FROM:<>\r\n", 250));
  BACKSTOP_TRY(step("RCPT TO:<" + n.to + ">\r\n", 250));
  BACKSTOP_TRY(step("DATA\r\n", 354));
  BACKSTOP_TRY(step(message(n, true) + ".\r\n", 250));
  (void)send_all(fd, "QUIT\r\n");
  return {};
}

void Notifier::deliver(const Notice& n) {
  auto fail = [&](const std::string& why) {
    if (log_) log_("notice to <" + n.to + "> not sent: " + why);
  };
  if (n.sendmail.starts_with("smtp:")) {
    if (auto st = submit(n, std::string_view(n.sendmail).substr(5)); !st) fail(st.error().message());
    return;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
  std::vector<std::string> args{n.sendmail, "-i", "-f", "<>", "--", n.to};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, n.sendmail.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[0]);
  if (rc != 0) {
    close(fds[1]);
    return fail(n.sendmail + ": " + std::strerror(rc));
  }
  const std::string msg = message(n, false);
  // A broken pipe (sendmail exited early) must not kill the daemon.
  signal(SIGPIPE, SIG_IGN);
  std::size_t off = 0;
  while (off < msg.size()) {
    ssize_t w = write(fds[1], msg.data() + off, msg.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += static_cast<std::size_t>(w);
  }
  close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kSendmailTimeoutSeconds);
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return fail(std::string("waitpid: ") + std::strerror(errno));
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return fail("sendmail timed out");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail(n.sendmail + " exited with status " + std::to_string(status));
}

}  // namespace backstop::daemon
