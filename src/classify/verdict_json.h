// JSON renderings of a Verdict and its References, for `backstop classify
// --format json`, `scan --format jsonl` and logs. Compact, one line; strings
// quoted by text::quote (UTF-8 passed through, invalid bytes as U+FFFD,
// control characters escaped).
// Thread-safety: stateless.
#pragma once

#include <string>
#include <string_view>

#include "classify/verdict.h"

namespace backstop::classify {

// {"message_id":..., "in_reply_to":[...], ..., "recipients":[{...}]}; empty fields omitted.
std::string references_json(const References& r);
// {"kind":..., "confidence":..., "feedback_report":..., "signals":[...], "refs":{...}}
std::string verdict_json(const Verdict& v);

}  // namespace backstop::classify
