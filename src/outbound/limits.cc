#include "outbound/limits.h"

#include <algorithm>

#include "common/text.h"

namespace backstop::outbound {
namespace {

// Windows one message may touch per scope (keys per store transaction stay
// within store::kMaxUpdateKeys: 3 scopes x 16 = 48).
constexpr std::size_t kMaxWindowsPerScope = 16;

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t j = s.find(',', i);
    if (j == std::string_view::npos) j = s.size();
    auto item = text::trim(s.substr(i, j - i));
    if (!item.empty()) out.push_back(text::ascii_lower(item));
    i = j + 1;
  }
  return out;
}

int strength(Action a) {
  switch (a) {
    case Action::kReject: return 3;
    case Action::kTempfail: return 2;
    case Action::kHold: return 1;
    case Action::kAlert: return 0;
  }
  return 0;
}

std::string key_identity(const std::string& id) {
  if (id.size() <= kMaxIdentityInKey) return id;
  static const char* hex = "0123456789abcdef";
  std::uint64_t h = hash64(id);
  std::string out = "#";
  for (int i = 15; i >= 0; --i) out += hex[(h >> (4 * i)) & 15];
  return out;
}

struct Slot {
  const Rule* rule;
  Scope scope;
  std::string identity;
  Measure measure;
  const Window* window;
};

}  // namespace

std::string_view scope_name(Scope s) {
  switch (s) {
    case Scope::kSaslUser: return "sasl_user";
    case Scope::kClientIp: return "client_ip";
    case Scope::kSenderDomain: return "sender_domain";
  }
  return "sasl_user";
}

std::string_view measure_name(Measure m) {
  switch (m) {
    case Measure::kMessages: return "messages";
    case Measure::kRecipients: return "recipients";
    case Measure::kSenders: return "senders";
  }
  return "messages";
}

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kTempfail: return "tempfail";
    case Action::kHold: return "hold";
    case Action::kReject: return "reject";
    case Action::kAlert: return "alert";
  }
  return "alert";
}

Result<Rule> parse_rule(const std::map<std::string, std::string>& table, std::size_t index) {
  Rule r;
  const std::string where = "limits.rule[" + std::to_string(index) + "]";
  auto bad = [&](const std::string& why) { return fail(Code::kInvalidArgument, where + ": " + why); };
  auto get = [&](const char* k) -> std::string {
    auto it = table.find(k);
    return it == table.end() ? std::string() : it->second;
  };
  for (const auto& [k, v] : table) {
    if (k != "name" && k != "scope" && k != "match" && k != "messages" && k != "recipients" &&
        k != "senders" && k != "action") {
      return bad("unknown key " + k);
    }
  }
  const std::string scope = get("scope");
  if (scope == "sasl_user" || scope.empty()) r.scope = Scope::kSaslUser;
  else if (scope == "client_ip") r.scope = Scope::kClientIp;
  else if (scope == "sender_domain") r.scope = Scope::kSenderDomain;
  else return bad("scope must be sasl_user, client_ip or sender_domain");
  const std::string action = get("action");
  if (action == "tempfail" || action.empty()) r.action = Action::kTempfail;
  else if (action == "hold") r.action = Action::kHold;
  else if (action == "reject") r.action = Action::kReject;
  else if (action == "alert") r.action = Action::kAlert;
  else return bad("action must be tempfail, hold, reject or alert");
  r.match = split_list(get("match"));
  if (r.scope == Scope::kClientIp) {
    for (auto& m : r.match) {
      auto a = ip::parse(m);
      if (!a) return bad("match: " + m + " is not an IP address");
      m = identity_of(Client{"", m, ""}, Scope::kClientIp);
    }
  }
  for (auto [key, list] : {std::pair{"messages", &r.messages}, std::pair{"recipients", &r.recipients},
                           std::pair{"senders", &r.senders}}) {
    auto w = parse_windows(get(key));
    if (!w) return bad(std::string(key) + ": " + w.error().message());
    *list = std::move(*w);
  }
  if (r.messages.empty() && r.recipients.empty() && r.senders.empty()) {
    return bad("a rule needs messages, recipients or senders");
  }
  r.name = get("name");
  if (r.name.empty()) r.name = std::string(scope_name(r.scope)) + (r.match.empty() ? "" : "-" + std::to_string(index));
  for (char c : r.name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) {
      return bad("name may hold letters, digits, '-', '_' and '.'");
    }
  }
  if (r.name.size() > 64) return bad("name longer than 64 bytes");
  return r;
}

std::string identity_of(const Client& c, Scope scope) {
  switch (scope) {
    case Scope::kSaslUser: return text::ascii_lower(c.sasl_user);
    case Scope::kClientIp: {
      auto a = ip::parse(c.ip);
      if (!a) return {};
      if (!a->v6) return ip::to_string(*a);
      ip::Network n{*a, kIpv6Prefix};
      for (int i = kIpv6Prefix / 8; i < 16; ++i) n.base.bytes[static_cast<std::size_t>(i)] = 0;
      return ip::to_string(n);
    }
    case Scope::kSenderDomain: {
      auto at = c.sender.rfind('@');
      if (at == std::string::npos || at + 1 >= c.sender.size()) return {};
      return text::ascii_lower(c.sender.substr(at + 1));
    }
  }
  return {};
}

std::string Verdict::reason() const {
  const Trip* worst = nullptr;
  for (const auto& t : trips) {
    if (!worst || strength(t.action) > strength(worst->action)) worst = &t;
  }
  if (!worst) return {};
  std::string what = worst->measure == Measure::kMessages     ? "messages"
                     : worst->measure == Measure::kRecipients ? "recipients"
                                                              : "different envelope senders";
  return "too many " + what + " from " + std::string(scope_name(worst->scope)) + " " + worst->identity +
         " (limit " + worst->window.text + ")";
}

Result<Limiter> Limiter::create(Settings settings, store::Store* store, const Clock* clock) {
  Limiter l;
  for (std::size_t i = 0; i < settings.rules.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (settings.rules[i].name == settings.rules[j].name) {
        return fail(Code::kInvalidArgument, "limits.rule: two rules are named " + settings.rules[i].name);
      }
    }
  }
  // Bound the windows one message can touch, per scope.
  for (Scope s : {Scope::kSaslUser, Scope::kClientIp, Scope::kSenderDomain}) {
    std::map<std::string, std::size_t> per_identity;  // "" = the general rules
    for (const auto& r : settings.rules) {
      if (r.scope != s) continue;
      const std::size_t n = std::max(r.messages.size() + r.senders.size(), r.recipients.size());
      if (r.match.empty()) per_identity[""] += n;
      for (const auto& m : r.match) per_identity[m] += n;
    }
    for (const auto& [id, n] : per_identity) {
      if (n > kMaxWindowsPerScope) {
        return fail(Code::kInvalidArgument, "limits.rule: more than " + std::to_string(kMaxWindowsPerScope) +
                                                " windows apply to " + std::string(scope_name(s)) + " " +
                                                (id.empty() ? "(general rules)" : id));
      }
    }
  }
  for (auto& e : settings.exempt) {
    e = text::ascii_lower(text::trim(e));
    if (e.find('/') != std::string::npos || ip::parse(e)) {
      auto n = ip::parse_network(e);
      if (!n) return fail(Code::kInvalidArgument, "limits.exempt: bad network " + e);
      l.exempt_networks_.push_back(*n);
    }
  }
  l.settings_ = std::move(settings);
  l.store_ = store;
  l.clock_ = clock;
  return l;
}

bool Limiter::exempt(const Client& c) const {
  const std::string user = text::ascii_lower(c.sasl_user);
  const std::string sender = text::ascii_lower(c.sender);
  const auto at = sender.rfind('@');
  const std::string domain = at == std::string::npos ? std::string() : sender.substr(at + 1);
  for (const auto& e : settings_.exempt) {
    if (e.empty()) continue;
    if (e.front() == '@') {
      if (!domain.empty() && e.substr(1) == domain) return true;
    } else if (e.find('@') != std::string::npos) {
      if (e == sender) return true;
    } else if (!user.empty() && e == user) {
      return true;
    }
  }
  if (!exempt_networks_.empty()) {
    if (auto a = ip::parse(c.ip)) {
      for (const auto& n : exempt_networks_) {
        if (ip::contains(n, *a)) return true;
      }
    }
  }
  return false;
}

Result<Verdict> Limiter::message(const Client& c) const { return count(c, true, 0); }

Result<Verdict> Limiter::recipients(const Client& c, std::int64_t n) const { return count(c, false, n); }

Result<Verdict> Limiter::count(const Client& c, bool message, std::int64_t rcpts) const {
  Verdict verdict;
  if (!enabled() || exempt(c)) return verdict;
  std::vector<Slot> slots;
  for (Scope s : {Scope::kSaslUser, Scope::kClientIp, Scope::kSenderDomain}) {
    std::string id = identity_of(c, s);
    if (id.empty()) continue;
    std::vector<const Rule*> chosen;
    for (const auto& r : settings_.rules) {
      if (r.scope == s && std::find(r.match.begin(), r.match.end(), id) != r.match.end()) chosen.push_back(&r);
    }
    if (chosen.empty()) {
      for (const auto& r : settings_.rules) {
        if (r.scope == s && r.match.empty()) chosen.push_back(&r);
      }
    }
    for (const Rule* r : chosen) {
      if (message) {
        for (const auto& w : r->messages) slots.push_back({r, s, id, Measure::kMessages, &w});
        for (const auto& w : r->senders) slots.push_back({r, s, id, Measure::kSenders, &w});
      } else {
        for (const auto& w : r->recipients) slots.push_back({r, s, id, Measure::kRecipients, &w});
      }
    }
  }
  if (slots.empty()) return verdict;

  const std::int64_t now = clock_->now_unix();
  const std::uint64_t sender_hash = hash64(c.sender.empty() ? std::string("<>") : text::ascii_lower(c.sender));
  auto trip_of = [&](const Slot& sl, std::int64_t after) {
    Trip t;
    t.rule = sl.rule->name;
    t.scope = sl.scope;
    t.identity = sl.identity;
    t.measure = sl.measure;
    t.window = *sl.window;
    t.count = after;
    t.action = sl.rule->action;
    if (t.action != Action::kAlert) verdict.refused = true;
    if (verdict.trips.empty() || strength(t.action) > strength(verdict.action)) verdict.action = t.action;
    verdict.trips.push_back(std::move(t));
  };
  auto slot_key = [&](std::string_view tag, const Slot& sl) {
    return std::string(tag) + sl.rule->name + ":" + std::string(measure_name(sl.measure)) + ":" +
           std::to_string(sl.window->seconds) + ":" + key_identity(sl.identity);
  };

  // A store that counts windows itself: one atomic call, the trips' first
  // marks included.
  store::WindowCounter* native = store_->window_counter();
  for (const auto& sl : slots) {
    if (sl.measure == Measure::kSenders && sl.window->limit >= store::kMaxNativeDistinct) native = nullptr;
  }
  if (native) {
    std::vector<store::WindowSpec> specs(slots.size());
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const Slot& sl = slots[i];
      store::WindowSpec& w = specs[i];
      const bool distinct = sl.measure == Measure::kSenders;
      w.key = slot_key("ow:", sl);
      w.alert_key = slot_key("oa:", sl);
      w.kind = distinct ? store::WindowSpec::Kind::kDistinct : store::WindowSpec::Kind::kCount;
      w.seconds = sl.window->seconds;
      w.step = window_step(w.seconds, distinct ? kSketchSlots : kSlots);
      w.limit = sl.window->limit;
      w.amount = sl.measure == Measure::kMessages ? 1 : rcpts;
      w.member = sender_hash;
      w.enforcing = sl.rule->action != Action::kAlert;
    }
    auto results = native->check_and_count(specs, now);
    BACKSTOP_TRY(results);
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (!(*results)[i].exceeded) continue;
      trip_of(slots[i], (*results)[i].count);
      verdict.trips.back().first = (*results)[i].first;
    }
    return verdict;
  }

  std::vector<std::string> keys;
  keys.reserve(slots.size());
  for (const auto& sl : slots) keys.push_back(slot_key("ol:", sl));
  auto update = [&](std::span<const std::optional<std::string>> current) {
    verdict = Verdict{};
    std::vector<store::RecordChange> changes(slots.size());
    std::vector<std::string> next(slots.size());
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const Slot& sl = slots[i];
      const Window& w = *sl.window;
      const std::string_view bytes = current[i] ? std::string_view(*current[i]) : std::string_view();
      std::int64_t after = 0;
      bool exceeded = false;
      if (sl.measure == Measure::kSenders) {
        SlidingDistinct d = SlidingDistinct::decode(bytes);
        Sketch live = d.live(now, w.seconds);
        bool is_new = false;
        if (live.exact()) {
          is_new = !live.contains(sender_hash);
          after = live.count() + (is_new ? 1 : 0);
        } else {
          const std::int64_t before = live.count();
          live.add(sender_hash);
          after = live.count();
          is_new = after > before;
        }
        exceeded = is_new && after > w.limit;
        d.add(now, w.seconds, sender_hash);
        next[i] = d.encode();
      } else {
        const std::int64_t delta = sl.measure == Measure::kMessages ? 1 : rcpts;
        SlidingCount sc = SlidingCount::decode(bytes);
        after = sc.total(now, w.seconds) + delta;
        exceeded = after > w.limit;
        sc.add(now, w.seconds, delta);
        next[i] = sc.encode();
      }
      if (exceeded) trip_of(sl, after);
    }
    if (!verdict.refused) {
      for (std::size_t i = 0; i < slots.size(); ++i) {
        const std::int64_t secs = slots[i].window->seconds;
        changes[i] = {store::RecordChange::Op::kPut, std::move(next[i]), now + secs + secs / kSketchSlots + 1};
      }
    }
    return changes;
  };
  BACKSTOP_TRY(store_->records_update(keys, update));
  if (verdict.trips.empty()) return verdict;

  // Which trips are the first of their window (for the notice mail).
  std::vector<std::string> alert_keys;
  for (const auto& t : verdict.trips) {
    alert_keys.push_back("oa:" + t.rule + ":" + std::string(measure_name(t.measure)) + ":" +
                         std::to_string(t.window.seconds) + ":" + key_identity(t.identity));
  }
  BACKSTOP_TRY(store_->records_update(alert_keys, [&](std::span<const std::optional<std::string>> current) {
    std::vector<store::RecordChange> changes(current.size());
    for (std::size_t i = 0; i < current.size(); ++i) {
      verdict.trips[i].first = !current[i].has_value();
      if (verdict.trips[i].first) {
        changes[i] = {store::RecordChange::Op::kPut, "1", now + verdict.trips[i].window.seconds};
      }
    }
    return changes;
  }));
  return verdict;
}

}  // namespace backstop::outbound
