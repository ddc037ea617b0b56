// Postfix SMTP access policy delegation protocol (docs/reference/protocols.md §4):
// a pure, incremental, bounded parser of requests and the response formatter.
//
// A request is `name=value` lines ended by "\n" (a trailing "\r" is dropped,
// for hand-written Exim requests), terminated by an empty line. Names hold no
// '=', NUL or newline; values no NUL or newline. Unknown attributes are kept
// (the handler ignores what it does not know); a repeated attribute keeps the
// first value for get(). Limits are checked before storing anything.
// Not thread-safe: one parser per connection.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace backstop::policyd {

// One attribute line. Postfix's longest values (ccert_subject/issuer, a full
// SMTP command argument under line_length_limit 2048) are far below this.
inline constexpr std::size_t kMaxLineBytes = 8 * 1024;
// Attributes per request: Postfix 3.12 sends about 35; unknown ones are kept,
// so leave room for newer versions and policy_context additions.
inline constexpr std::size_t kMaxAttributes = 128;
// Bytes per request, all lines together: bounds memory per connection.
inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;

class Request {
 public:
  // The first value of `name`, or nullopt.
  std::optional<std::string_view> get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& attributes() const { return attrs_; }
  bool empty() const { return attrs_.empty(); }
  void add(std::string name, std::string value) { attrs_.emplace_back(std::move(name), std::move(value)); }

 private:
  std::vector<std::pair<std::string, std::string>> attrs_;
};

class RequestParser {
 public:
  void feed(std::string_view bytes);
  // The next complete request, nullopt when more bytes are needed. Errors
  // (kMalformed: a line without '=', an empty name, NUL; kTooLarge: a limit)
  // poison the parser: the connection must be closed without an answer.
  Result<std::optional<Request>> next();
  // At EOF: a request missing only its terminating empty line (Exim callers
  // may omit it) is returned; a partial line is an error; nothing pending is
  // nullopt.
  Result<std::optional<Request>> finish();
  // Bytes received but not yet consumed.
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  Status take_line(std::string_view line);
  std::string buf_;
  std::size_t pos_ = 0;
  Request cur_;
  std::size_t cur_bytes_ = 0;
  bool failed_ = false;
};

// "action=<action>\n\n". CR, LF and NUL inside `action` become spaces, so a
// handler can never inject a second response line. An empty action becomes
// DUNNO (no opinion).
std::string format_response(std::string_view action);

}  // namespace backstop::policyd
