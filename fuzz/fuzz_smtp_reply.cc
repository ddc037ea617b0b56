// Fuzzes `backstop audit`'s SMTP dialogue codec with untrusted server bytes:
// the incremental reply parser (split at fuzzer-chosen points), the probe
// dialogue fed with every parsed reply, and the capture receiver's session
// fed the same bytes as a client. Invariants: no crash; every command the
// probe sends is one CRLF-terminated line; at most kMaxProbeRcpts RCPTs;
// kept reply text stays within kMaxKeptReplyBytes; captured messages stay
// within their limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "audit/smtp.h"

namespace {

using namespace backstop::audit;

void check_command(const std::string& c, bool in_body) {
  if (c.empty()) return;
  if (c.size() < 2 || c.substr(c.size() - 2) != "\r\n") std::abort();
  if (in_body) return;  // the message is many lines
  if (c.find('\n') != c.size() - 1 || c.find('\r') != c.size() - 2) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t split = size == 0 ? 0 : data[0] % 17 + 1;

  ReplyParser parser;
  ProbePlan plan;
  plan.helo = "probe.test";
  plan.sender = "backstop-audit@probe.test";
  plan.domain = "example.test";
  plan.random_local = "backstop-probe-0011223344556677";
  plan.capture = size > 1 && (data[1] & 1);
  plan.capture_sender = "audit@capture.test";
  plan.message = "Subject: probe\r\n\r\n.body\r\n";
  ProbeDialogue dialogue(plan);
  std::vector<Reply> replies;
  for (std::size_t at = 0; at < in.size(); at += split) {
    replies.clear();
    const bool ok = parser.feed(in.substr(at, split), &replies).has_value();
    for (const auto& r : replies) {
      if (r.code < 200 || r.code > 599) std::abort();
      std::size_t kept = 0;
      for (const auto& l : r.lines) kept += l.size();
      if (kept > kMaxKeptReplyBytes || r.lines.size() > kMaxReplyLines) std::abort();
      const std::string cmd = dialogue.on_reply(r);
      check_command(cmd, cmd.ends_with("\r\n.\r\n"));
      if (dialogue.rcpts_sent() > kMaxProbeRcpts) std::abort();
    }
    if (!ok) {
      dialogue.abort("bad reply");
      break;
    }
  }
  (void)judge_smtp("fuzz", plan, dialogue.outcome(), nullptr);

  ReceiverSession rs;
  for (std::size_t at = 0; at < in.size() && !rs.closed(); at += split) {
    const std::string out = rs.feed(in.substr(at, split));
    if (!out.empty() && out.substr(out.size() - 2) != "\r\n") std::abort();
  }
  for (const auto& m : rs.take_messages()) {
    if (m.data.size() > kMaxCapturedMessageBytes || m.rcpts.size() > kMaxCapturedRcpts) std::abort();
  }
  return 0;
}
