// The inline Received parser: the "Received:" lines (and the other header
// lines) of an original quoted in a bounce's body text ("> Received: ...",
// qmail, Exim and many NDRs), which extract_references (classify/refs.h)
// reads from Message::text and Message::embedded_text and hands, line by
// line, to mail::parse_received. fuzz_received covers parse_received on one
// header value; this target covers the body scan around it. The arbitrary
// bytes (made UTF-8, as decoded text is) are the body text of a message with
// no header section. Invariants:
//  - at most kMaxHops hops; every IP a valid literal, every host non-empty,
//    one line (no CR or LF) and no longer than a header line (998 bytes);
//  - the same text as the embedded original's text gives the same original
//    references (both go through the same quoted-header scan).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "classify/refs.h"
#include "common/text.h"
#include "mail/message.h"
#include "mail/received.h"

namespace {

using namespace backstop;

// RFC 5322 §2.1.1: a line is at most 998 bytes; a quoted value longer than
// that is not read as a header line.
constexpr std::size_t kMaxLine = 998;

void check_hops(const classify::References& r) {
  if (r.original_received_ips.size() > classify::kMaxHops || r.original_received_hosts.size() > classify::kMaxHops) {
    std::abort();
  }
  for (const auto& ip : r.original_received_ips) {
    if (!mail::is_ip_literal(ip) || ip.size() > kMaxLine) std::abort();
  }
  for (const auto& h : r.original_received_hosts) {
    if (h.empty() || h.size() > kMaxLine || h.find_first_of("\r\n") != std::string::npos) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = text::sanitize_utf8(std::string_view(reinterpret_cast<const char*>(data), size));

  mail::Message body;  // a responder's text quoting the original
  body.text = text;
  const classify::References a = classify::extract_references(body);
  check_hops(a);

  mail::Message embedded;  // the same lines as the returned original's text
  embedded.embedded_text = text;
  const classify::References b = classify::extract_references(embedded);
  check_hops(b);
  if (a.original_received_ips != b.original_received_ips || a.original_received_hosts != b.original_received_hosts ||
      a.message_id != b.message_id || a.subject != b.subject || a.from != b.from || a.to != b.to ||
      a.date != b.date || a.original_sender != b.original_sender) {
    std::abort();
  }
  return 0;
}
