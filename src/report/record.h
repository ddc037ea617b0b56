// One scanned message, reduced to the strings the report writers need.
// Built from a parsed message and its Verdict by extract.h; the writers and the
// aggregation (aggregate.h) depend only on this, not on mail/ or classify/.
// Thread-safety: value types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace backstop::report {

// One DSN recipient (RFC 3464 per-recipient fields), as reported.
struct RecipientRef {
  std::string original_recipient;
  std::string final_recipient;
  std::string action;
  std::string status;
  std::string diagnostic;
};

// References to the original message (mirrors classify::References).
struct Refs {
  std::string message_id;
  std::vector<std::string> in_reply_to;
  std::vector<std::string> references;
  std::string subject;
  std::string from;
  std::vector<std::string> to;
  std::string date;
  std::string original_sender;
  std::string original_envelope_id;
  std::string reporting_mta;
  std::vector<RecipientRef> recipients;
  std::vector<std::string> original_received_ips;
  std::vector<std::string> original_received_hosts;
};

// The result for one message. Every string holds message-derived bytes that
// may be anything (invalid UTF-8, control characters, markup): writers escape.
struct MessageRecord {
  std::string file;            // path as given, joined with the path inside a directory
  std::size_t index = 0;       // 0-based message number inside `file`
  std::string kind;            // classify::kind_name: none, bounce, virus_notice, ...
  double confidence = 0.0;
  std::vector<std::string> signals;
  bool feedback_report = false;
  Refs refs;
  std::string subject;         // RFC 2047-decoded Subject of the message itself
  std::string from;            // addr-spec of its From (raw value when unparsable)
  std::string date;            // its Date header, raw
  std::string day;             // "YYYY-MM-DD" (UTC) from `date`, "" when unparsable
  std::string source_ip;       // first Received hop outside trusted/private ranges
  std::string source_host;     // that hop's rDNS or HELO name
  std::vector<std::string> local_recipients;  // Delivered-To, X-Original-To, To, envelope
  std::string envelope_from;   // mbox "From " line sender, "" when none
  std::uint64_t size = 0;      // bytes of the message
  std::vector<std::string> conditions;  // parse limits hit / damage (mail::Condition names)
};

// A message or file that could not be read or parsed; the scan goes on.
struct ErrorRecord {
  std::string file;
  std::size_t index = 0;
  std::string code;     // backstop::code_name, e.g. "too-large", "malformed"
  std::string message;  // one line, human-readable
};

}  // namespace backstop::report
