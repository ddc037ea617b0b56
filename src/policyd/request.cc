#include "policyd/request.h"

namespace backstop::policyd {

std::optional<std::string_view> Request::get(std::string_view name) const {
  for (const auto& [n, v] : attrs_)
    if (n == name) return std::string_view(v);
  return std::nullopt;
}

void RequestParser::feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {  // drop consumed bytes, amortised
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

Status RequestParser::take_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\0') != std::string_view::npos)
    return fail(Code::kMalformed, "policy request line contains NUL");
  auto eq = line.find('=');
  if (eq == std::string_view::npos) return fail(Code::kMalformed, "policy attribute without '='");
  if (eq == 0) return fail(Code::kMalformed, "policy attribute with an empty name");
  if (cur_.attributes().size() >= kMaxAttributes)
    return fail(Code::kTooLarge, "policy request has more than " + std::to_string(kMaxAttributes) +
                                     " attributes");
  cur_bytes_ += line.size() + 1;
  if (cur_bytes_ > kMaxRequestBytes)
    return fail(Code::kTooLarge, "policy request larger than " + std::to_string(kMaxRequestBytes));
  cur_.add(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  return {};
}

Result<std::optional<Request>> RequestParser::next() {
  if (failed_) return fail(Code::kProtocol, "policy stream unusable after an earlier error");
  for (;;) {
    std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
    auto nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      if (rest.size() > kMaxLineBytes) {
        failed_ = true;
        return fail(Code::kTooLarge, "policy line longer than " + std::to_string(kMaxLineBytes));
      }
      return std::optional<Request>{};
    }
    if (nl > kMaxLineBytes) {
      failed_ = true;
      return fail(Code::kTooLarge, "policy line longer than " + std::to_string(kMaxLineBytes));
    }
    std::string_view line = rest.substr(0, nl);
    pos_ += nl + 1;
    if (line.empty() || line == "\r") {
      if (cur_.empty()) continue;  // stray blank lines between requests
      cur_bytes_ = 0;
      return std::optional<Request>{std::exchange(cur_, Request{})};
    }
    if (auto st = take_line(line); !st) {
      failed_ = true;
      return unexpected<Error>(std::move(st).error());
    }
  }
}

Result<std::optional<Request>> RequestParser::finish() {
  auto r = next();
  if (!r) return r;
  if (r->has_value()) return r;
  if (buffered() > 0) {
    failed_ = true;
    return fail(Code::kMalformed, "policy request ends inside a line");
  }
  if (cur_.empty()) return std::optional<Request>{};
  cur_bytes_ = 0;
  return std::optional<Request>{std::exchange(cur_, Request{})};
}

std::string format_response(std::string_view action) {
  std::string out = "action=";
  if (action.empty()) action = "DUNNO";
  for (char c : action) out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
  out += "\n\n";
  return out;
}

}  // namespace backstop::policyd
