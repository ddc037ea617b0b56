// Notice mails to the postmaster (a limit tripped), sent on a background
// thread so the mail path never waits: through the MTA's sendmail program, or
// by SMTP to the MTA ("smtp:HOST:PORT"), which also works where setgid
// programs cannot (the shipped unit's NoNewPrivileges stops Postfix's postdrop).
// Thread-safety: send() may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/result.h"

namespace backstop::daemon {

// Notices waiting at most; more are dropped (and logged): a flood of trips
// must not become a flood of mail.
inline constexpr std::size_t kMaxQueuedNotices = 64;
// A sendmail run that takes longer is killed; an SMTP read or write that
// takes longer ends the submission.
inline constexpr int kSendmailTimeoutSeconds = 30;
// An SMTP reply larger than this is not one (RFC 5321 allows 512-byte lines).
inline constexpr std::size_t kMaxSmtpReplyBytes = 64 * 1024;

class Notifier {
 public:
  // `log` gets one line per failure; may be empty.
  explicit Notifier(std::function<void(const std::string&)> log = {});
  ~Notifier();  // sends what is queued, then stops
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Queues a notice: `sendmail -i -f <> -- to`, the message on its input
  // (To, Subject, Auto-Submitted: auto-generated, then `body`); or, when
  // `sendmail` is "smtp:HOST:PORT", the same message submitted by SMTP from
  // the null sender. false when the queue is full. Failures are logged.
  bool send(std::string sendmail, std::string to, std::string subject, std::string body);

 private:
  struct Notice {
    std::string sendmail, to, subject, body;
  };
  void run();
  void deliver(const Notice& n);
  // The message text; crlf: SMTP's line ends and dot-stuffing.
  static std::string message(const Notice& n, bool crlf);
  static Status submit(const Notice& n, std::string_view host_port);

  std::function<void(const std::string&)> log_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Notice> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace backstop::daemon
