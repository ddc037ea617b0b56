// Output writers of `backstop scan`: JSON Lines and CSV rows per message, the
// readable summary, and the self-contained HTML report (html.h).
// Every message-derived string is escaped for its format; output is always
// valid UTF-8 whatever bytes the messages held.
// Thread-safety: stateless.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "report/aggregate.h"
#include "report/record.h"

namespace backstop::report {

// One JSON object (no trailing newline) with the fields of MessageRecord:
// file, index, kind, confidence, signals, feedback_report, refs{message_id,
// in_reply_to, references, subject, from, to, date, original_sender,
// original_envelope_id, reporting_mta, original_recipients, final_recipients,
// status_codes, actions, recipients[{...}], original_received_ips,
// original_received_hosts}, subject, from, date, day, source_ip, source_host,
// local_recipients, envelope_from, size, conditions. Empty strings are null.
std::string jsonl_line(const MessageRecord& r);

// The CSV header row and one row per message (RFC 4180, CRLF line ends).
// Lists are joined with ';'.
std::string csv_header();
std::string csv_row(const MessageRecord& r);

// The readable summary: totals, counts and share by kind, by period (day,
// week, month or year: make_timeline, `today` as there) with the backscatter
// share on its own scale, top sources, recipients and forged senders (top_n
// each, printed whole), errors by type.
std::string text_summary(const Summary& s, std::size_t top_n = 10, std::string_view today = {});

}  // namespace backstop::report
