#include "mail/envelope.h"

#include "mail/header.h"

namespace backstop::mail {

Envelope envelope_from_mbox(std::string_view sender) {
  Envelope e;
  std::string_view from = trim(sender);
  if (from.empty()) return e;
  e.known = true;
  if (from == "<>" || iequals(from, "MAILER-DAEMON")) return e;
  if (from.size() >= 2 && from.front() == '<' && from.back() == '>') from = from.substr(1, from.size() - 2);
  e.mail_from = std::string(from);
  return e;
}

}  // namespace backstop::mail
