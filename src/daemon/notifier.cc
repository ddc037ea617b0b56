#include "daemon/notifier.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/thread_name.h"

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

void Notifier::deliver(const Notice& n) {
  auto fail = [&](const std::string& why) {
    if (log_) log_("notice to <" + n.to + "> not sent: " + why);
  };
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
  std::string msg = "To: <" + n.to + ">\nSubject: " + n.subject +
                    "\nAuto-Submitted: auto-generated\nContent-Type: text/plain; charset=utf-8\n\n" + n.body + "\n";
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
