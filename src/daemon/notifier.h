// Notice mails to the postmaster (a limit tripped), sent through the MTA's
// sendmail program on a background thread so the mail path never waits.
// Thread-safety: send() may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace backstop::daemon {

// Notices waiting at most; more are dropped (and logged): a flood of trips
// must not become a flood of mail.
inline constexpr std::size_t kMaxQueuedNotices = 64;
// A sendmail run that takes longer is killed.
inline constexpr int kSendmailTimeoutSeconds = 30;

class Notifier {
 public:
  // `log` gets one line per failure; may be empty.
  explicit Notifier(std::function<void(const std::string&)> log = {});
  ~Notifier();  // sends what is queued, then stops
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Queues a notice: `sendmail -i -f <> -- to`, the message on its input
  // (To, Subject, Auto-Submitted: auto-generated, then `body`). false when
  // the queue is full.
  bool send(std::string sendmail, std::string to, std::string subject, std::string body);

 private:
  struct Notice {
    std::string sendmail, to, subject, body;
  };
  void run();
  void deliver(const Notice& n);

  std::function<void(const std::string&)> log_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Notice> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace backstop::daemon
