// Builds the report record of one message from what the scan has: the raw
// message (location, index, mbox envelope), the parsed message and the verdict.
// Thread-safety: pure functions; `trusted` is only read.
#pragma once

#include "classify/classifier.h"
#include "classify/verdict.h"
#include "mail/mailbox.h"
#include "mail/message.h"
#include "report/record.h"
#include "report/source.h"

namespace backstop::report {

MessageRecord make_record(const mail::RawMessage& raw, const mail::Message& message,
                          const classify::Verdict& verdict, const Trusted& trusted);

// Local recipients of a message: Delivered-To and X-Original-To when present
// (the mailbox it was delivered to), else the To and Cc addresses;
// lower-cased addr-specs, without duplicates, at most 20.
std::vector<std::string> local_recipients(const mail::HeaderList& headers);

}  // namespace backstop::report
