// The SMTP envelope of a message, where known: what the milter saw, what
// `backstop check` is told, or what an mbox "From " line states. One type for
// every layer that reads it (the classifier, the correlator, the daemon).
// Thread-safety: a value type; envelope_from_mbox() is reentrant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace backstop::mail {

struct Envelope {
  // False when nothing is known of the envelope (a file with no "From "
  // line): then an empty mail_from is not the null sender.
  bool known = false;
  std::string mail_from;           // "" = the null reverse-path "<>"
  std::vector<std::string> rcpts;  // as given at RCPT, possibly BATV-tagged
  std::string client_ip;           // "" when not known
};

// The envelope an mbox "From " line states (the sender token, as
// RawMessage::envelope_from holds it): known when it names a sender; "<>" and
// "MAILER-DAEMON" (what Postfix local(8) and procmail write for the null
// reverse-path) mean the null sender; angle brackets around an address are
// removed. "" (no "From " line) means no envelope information.
Envelope envelope_from_mbox(std::string_view sender);

}  // namespace backstop::mail
