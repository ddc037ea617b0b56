// Internal: the From_ line test shared by MboxSplitter and the readers.
#pragma once

#include <string_view>

namespace backstop::mail::detail {

// True when `line` (without its line ending) is an mbox From_ line: "From ",
// a sender word, then a date-ish tail (a time H:MM plus a year or a month name).
bool is_from_line(std::string_view line) noexcept;

// True when `prefix` (the first bytes of a file or message, after any
// leading blank lines) starts like mail: a header field "Name:" or a From_ line.
bool looks_like_mail(std::string_view prefix) noexcept;

}  // namespace backstop::mail::detail
