#include "store/postfix_log.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace backstop::store::postfix_log {
namespace {

bool digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}
int num(std::string_view s) {
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::int64_t year_of(std::int64_t unix_seconds) {
  std::int64_t days = unix_seconds / 86400;
  std::int64_t y = 1970 + days / 366;
  while (days_from_civil(y + 1, 1, 1) <= days) ++y;
  return y;
}

// "HH:MM:SS" -> seconds of the day, or -1.
int clock_seconds(std::string_view s) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':' || !digits(s.substr(0, 2)) ||
      !digits(s.substr(3, 2)) || !digits(s.substr(6, 2))) {
    return -1;
  }
  int h = num(s.substr(0, 2)), m = num(s.substr(3, 2)), sec = num(s.substr(6, 2));
  return h < 24 && m < 60 && sec < 61 ? h * 3600 + m * 60 + sec : -1;
}

// RFC 3339: 2026-11-27T16:00:01[.123456](Z|+01:00)
std::int64_t parse_iso(std::string_view s) {
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
      !digits(s.substr(0, 4)) || !digits(s.substr(5, 2)) || !digits(s.substr(8, 2))) {
    return 0;
  }
  const int secs = clock_seconds(s.substr(11, 8));
  const unsigned mon = static_cast<unsigned>(num(s.substr(5, 2)));
  const unsigned day = static_cast<unsigned>(num(s.substr(8, 2)));
  if (secs < 0 || mon < 1 || mon > 12 || day < 1 || day > 31) return 0;
  std::int64_t t = days_from_civil(num(s.substr(0, 4)), mon, day) * 86400 + secs;
  std::string_view rest = s.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    std::size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    rest.remove_prefix(i);
  }
  if (rest.size() >= 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
      digits(rest.substr(1, 2)) && digits(rest.substr(4, 2))) {
    const int off = num(rest.substr(1, 2)) * 3600 + num(rest.substr(4, 2)) * 60;
    t += rest[0] == '+' ? -off : off;
  }
  return t;
}

// "Nov 27 16:00:01[.123456]" or "Nov  7 ..." ; the year comes from `now`.
std::int64_t parse_bsd(std::string_view month, std::string_view day, std::string_view hms,
                       std::int64_t now) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto it = std::find(kMonths.begin(), kMonths.end(), month);
  if (it == kMonths.end() || !digits(day) || day.size() > 2) return 0;
  if (auto dot = hms.find('.'); dot != std::string_view::npos) hms = hms.substr(0, dot);
  const int secs = clock_seconds(hms);
  const auto mon = static_cast<unsigned>(it - kMonths.begin() + 1);
  const auto d = static_cast<unsigned>(num(day));
  if (secs < 0 || d < 1 || d > 31) return 0;
  const std::int64_t year = year_of(now);
  std::int64_t t = days_from_civil(year, mon, d) * 86400 + secs;
  if (t > now + 86400) t = days_from_civil(year - 1, mon, d) * 86400 + secs;
  return t;
}

// Splits off the next space-separated word (runs of spaces count as one).
std::string_view next_word(std::string_view* s) {
  while (!s->empty() && s->front() == ' ') s->remove_prefix(1);
  auto sp = s->find(' ');
  std::string_view w = s->substr(0, sp);
  s->remove_prefix(sp == std::string_view::npos ? s->size() : sp);
  return w;
}

std::int64_t parse_time(std::string_view line, std::int64_t now) {
  std::string_view rest = line;
  std::string_view first = next_word(&rest);
  if (first.size() >= 19 && first[4] == '-') return parse_iso(first);
  std::string_view day = next_word(&rest);
  std::string_view hms = next_word(&rest);
  return parse_bsd(first, day, hms, now);
}

bool queue_id_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// The value of `key=<...>` at the start of `s`, without brackets.
std::optional<std::string_view> bracketed(std::string_view s, std::string_view key) {
  if (!s.starts_with(key)) return std::nullopt;
  s.remove_prefix(key.size());
  if (s.empty() || s.front() != '<') return std::nullopt;
  s.remove_prefix(1);
  // The value ends at the last '>' that ends the field (followed by ',' or the end).
  std::size_t end = std::string_view::npos;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '>' && (i + 1 == s.size() || s[i + 1] == ',')) {
      end = i;
      break;
    }
  }
  if (end == std::string_view::npos) return std::nullopt;
  return s.substr(0, end);
}

bool is_delivery_agent(std::string_view p) {
  return p == "smtp" || p == "lmtp" || p == "local" || p == "virtual" || p == "pipe";
}

}  // namespace

std::optional<LogLine> parse_line(std::string_view line, std::int64_t now) {
  if (line.size() > kMaxLineBytes) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Locate "<name>/<program>[<pid>]: ".
  std::size_t pos = 0;
  std::string_view program, rest;
  for (;;) {
    auto colon = line.find("]: ", pos);
    if (colon == std::string_view::npos) return std::nullopt;
    auto open = line.rfind('[', colon);
    auto start = line.rfind(' ', colon);
    start = start == std::string_view::npos ? 0 : start + 1;
    if (open != std::string_view::npos && open > start && digits(line.substr(open + 1, colon - open - 1))) {
      std::string_view name = line.substr(start, open - start);
      auto slash = name.rfind('/');
      if (slash != std::string_view::npos && slash + 1 < name.size()) {
        program = name.substr(slash + 1);
        rest = line.substr(colon + 3);
        break;
      }
    }
    pos = colon + 3;
  }
  LogLine out;
  out.program = program;
  const auto qend = rest.find(": ");
  if (qend == std::string_view::npos || qend < 4 || qend > kMaxQueueIdBytes) return std::nullopt;
  out.queue_id = rest.substr(0, qend);
  if (!std::all_of(out.queue_id.begin(), out.queue_id.end(), queue_id_char)) return std::nullopt;
  rest.remove_prefix(qend + 2);

  if (program == "cleanup" && rest.starts_with("message-id=")) {
    std::string_view v = rest.substr(11);
    if (auto b = bracketed(rest, "message-id=")) v = *b;
    else if (auto sp = v.find(' '); sp != std::string_view::npos) v = v.substr(0, sp);
    if (v.empty() || v.size() > kMaxMessageIdBytes) return std::nullopt;
    out.event = Event::kMessageId;
    out.value = v;
  } else if (program == "qmgr" && rest == "removed") {
    out.event = Event::kRemoved;
  } else if (program == "qmgr" && rest.starts_with("from=")) {
    auto v = bracketed(rest, "from=");
    if (!v || v->size() > kMaxAddressBytes) return std::nullopt;
    out.event = Event::kFrom;
    out.value = *v;
  } else if (is_delivery_agent(program) && rest.starts_with("to=")) {
    auto v = bracketed(rest, "to=");
    if (!v || v->empty() || v->size() > kMaxAddressBytes) return std::nullopt;
    out.event = Event::kTo;
    out.value = *v;
  } else {
    return std::nullopt;
  }
  out.time = parse_time(line, now);
  return out;
}

void Correlator::feed(std::string_view line, std::vector<ImportedMessage>* out) {
  auto parsed = parse_line(line, now_);
  if (!parsed) return;
  const std::string qid(parsed->queue_id);
  if (parsed->event == Event::kRemoved) {
    emit(qid, out);
    return;
  }
  auto [it, created] = pending_.try_emplace(qid);
  Pending& p = it->second;
  if (created) {
    order_.push_back(qid);
    p.msg.entry.time = parsed->time;
  }
  switch (parsed->event) {
    case Event::kMessageId:
      p.msg.message_id = std::string(parsed->value);
      p.has_id = true;
      if (parsed->time) p.msg.entry.time = parsed->time;
      break;
    case Event::kFrom:
      if (!p.has_from) p.msg.entry.sender = std::string(parsed->value);
      p.has_from = true;
      break;
    case Event::kTo: {
      auto& r = p.msg.entry.recipients;
      if (r.size() < kMaxLedgerRecipients && std::find(r.begin(), r.end(), parsed->value) == r.end()) {
        r.emplace_back(parsed->value);
      }
      if (parsed->program == "smtp") p.msg.relayed = true;
      break;
    }
    case Event::kRemoved:
      break;
  }
  while (order_.size() > kMaxPending) {
    std::string oldest = std::move(order_.front());
    order_.pop_front();
    emit(oldest, out);
  }
}

void Correlator::emit(const std::string& queue_id, std::vector<ImportedMessage>* out) {
  auto it = pending_.find(queue_id);
  if (it == pending_.end()) return;
  if (it->second.has_id && it->second.has_from) out->push_back(std::move(it->second.msg));
  pending_.erase(it);
}

void Correlator::finish(std::vector<ImportedMessage>* out) {
  for (const auto& qid : order_) emit(qid, out);
  order_.clear();
  pending_.clear();
}

}  // namespace backstop::store::postfix_log
