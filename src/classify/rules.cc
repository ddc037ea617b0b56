#include "classify/rules.h"

#include <hs/hs.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "classify/rules_cache.h"
#include "common/text.h"

namespace backstop::classify {

// Owns one hs_database_t and the prototype scratch sized for it.
class Database {
 public:
  explicit Database(hs_database_t* db) : db_(db) {}
  ~Database() { hs_free_database(db_); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  hs_database_t* get() const noexcept { return db_; }

 private:
  hs_database_t* db_;
};

namespace {

// A rules file of more lines than this is a mistake, not a rule set.
constexpr std::size_t kMaxRules = 20000;
// A single pattern longer than this is certainly a pasting accident.
constexpr std::size_t kMaxPatternBytes = 4096;
// Weights are small numbers; a larger one would silence every other rule.
constexpr double kMaxAbsWeight = 10.0;
// Opens the optional flags column (docs/rules.md).
constexpr std::string_view kFlagsPrefix = "flags=";

// Splits off the next whitespace-delimited word of `s`.
std::string_view next_word(std::string_view& s) {
  s = text::trim(s);
  std::size_t n = 0;
  while (n < s.size() && !text::is_space(s[n])) ++n;
  std::string_view w = s.substr(0, n);
  s.remove_prefix(n);
  return w;
}

unexpected<Error> bad(int line, const std::string& what) {
  return fail(Code::kMalformed, "rules line " + std::to_string(line) + ": " + what);
}

bool parse_target(std::string_view w, Target* t) {
  static const std::pair<std::string_view, TargetKind> kPlain[] = {
      {"subject", TargetKind::kSubject}, {"from", TargetKind::kFrom},
      {"from-localpart", TargetKind::kFromLocalpart}, {"body", TargetKind::kBody},
      {"embedded", TargetKind::kEmbedded}};
  for (const auto& [name, kind] : kPlain) {
    if (w == name) {
      *t = Target{kind, ""};
      return true;
    }
  }
  const auto colon = w.find(':');
  if (colon == std::string_view::npos || colon + 1 == w.size()) return false;
  const std::string_view prefix = w.substr(0, colon);
  const std::string name = text::ascii_lower(w.substr(colon + 1));
  if (prefix == "header") *t = Target{TargetKind::kHeader, name};
  else if (prefix == "dsn") *t = Target{TargetKind::kDsn, name};
  else return false;
  return true;
}

bool parse_buckets(std::string_view w, std::vector<Bucket>* out) {
  static const std::pair<std::string_view, Bucket> kNames[] = {
      {"bounce", Bucket::kBounce}, {"virus_notice", Bucket::kVirusNotice},
      {"challenge", Bucket::kChallenge}, {"subscription_confirm", Bucket::kSubscriptionConfirm},
      {"autoreply", Bucket::kAutoreply}, {"auto", Bucket::kAuto}, {"feedback", Bucket::kFeedback}};
  while (!w.empty()) {
    const auto comma = w.find(',');
    const std::string_view one = w.substr(0, comma);
    bool found = false;
    for (const auto& [name, b] : kNames) {
      if (one == name) {
        out->push_back(b);
        found = true;
      }
    }
    if (!found) return false;
    if (comma == std::string_view::npos) break;
    w.remove_prefix(comma + 1);
  }
  return !out->empty();
}

// flags=FLAG[,FLAG...] (the word after "flags="): ORs the named RuleFlag
// bits into *out. False, with the offending name in *bad_flag ("" for an
// empty one), when a name is not a flag.
bool parse_flags(std::string_view w, std::uint8_t* out, std::string* bad_flag) {
  static const std::pair<std::string_view, RuleFlag> kNames[] = {{"ticket", kFlagTicket}};
  for (;;) {
    const auto comma = w.find(',');
    const std::string_view one = w.substr(0, comma);
    const auto* it = std::find_if(std::begin(kNames), std::end(kNames),
                                  [&](const auto& n) { return n.first == one; });
    if (it == std::end(kNames)) {
      *bad_flag = std::string(one);
      return false;
    }
    *out = static_cast<std::uint8_t>(*out | it->second);
    if (comma == std::string_view::npos) return true;
    w.remove_prefix(comma + 1);
  }
}

// Escapes a literal so the matcher treats every byte as itself.
std::string escape_literal(std::string_view lit) {
  std::string out;
  for (unsigned char c : lit) {
    if (std::isalnum(c) || c >= 0x80 || c == ' ') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// PATTERN: exists | "literal" | /regex/[flags]
Result<bool> parse_pattern(std::string_view p, Rule* r) {
  if (p == "exists") {
    r->exists = true;
    return true;
  }
  if (p.size() >= 2 && p.front() == '"' && p.back() == '"') {
    r->pattern = escape_literal(p.substr(1, p.size() - 2));
    return !r->pattern.empty() ? Result<bool>(true) : bad(r->line, "empty literal");
  }
  if (p.size() >= 2 && p.front() == '/') {
    const auto close = p.rfind('/');
    if (close == 0) return bad(r->line, "regex without closing /");
    for (char f : p.substr(close + 1)) {
      if (f == 'c') r->case_sensitive = true;
      else if (f == 's') r->dotall = true;
      else return bad(r->line, std::string("unknown regex flag '") + f + "'");
    }
    r->pattern = std::string(p.substr(1, close - 1));
    return !r->pattern.empty() ? Result<bool>(true) : bad(r->line, "empty regex");
  }
  return bad(r->line, "pattern must be exists, \"literal\" or /regex/");
}

Result<Rule> parse_line(std::string_view line, int lineno) {
  Rule r;
  r.line = lineno;
  r.name = std::string(next_word(line));
  const std::string_view target = next_word(line);
  const std::string_view buckets = next_word(line);
  const std::string_view weight = next_word(line);
  // The optional flags column: a pattern starts with '/' or '"' or is
  // "exists", so a word "flags=..." here cannot be one.
  std::string_view flags;
  const bool has_flags = text::trim(line).starts_with(kFlagsPrefix);
  if (has_flags) flags = next_word(line).substr(kFlagsPrefix.size());
  const std::string_view pattern = text::trim(line);
  if (pattern.empty()) return bad(lineno, "expected NAME TARGET KIND WEIGHT [flags=FLAG,...] PATTERN");
  if (is_structural_signal(r.name)) {
    return bad(lineno, "rule name '" + r.name + "' is a structural signal's (docs/rules.md)");
  }
  if (!parse_target(target, &r.target)) return bad(lineno, "unknown target '" + std::string(target) + "'");
  if (!parse_buckets(buckets, &r.buckets)) return bad(lineno, "unknown kind '" + std::string(buckets) + "'");
  const std::string wtext(weight);
  char* end = nullptr;
  errno = 0;
  r.weight = std::strtod(wtext.c_str(), &end);
  // Decimal only: strtod also reads "nan", "inf" and hex floats. The range is
  // tested so that a NaN (which compares false) fails it.
  if (wtext.find_first_not_of("0123456789+-.eE") != std::string::npos || errno != 0 ||
      end == wtext.c_str() || *end != '\0' || !(r.weight >= -kMaxAbsWeight && r.weight <= kMaxAbsWeight)) {
    return bad(lineno, "bad weight '" + wtext + "'");
  }
  if (has_flags) {
    std::string what;
    if (!parse_flags(flags, &r.flags, &what)) {
      return bad(lineno, what.empty() ? std::string("empty flag in flags=") : "unknown flag '" + what + "'");
    }
  }
  if (pattern.size() > kMaxPatternBytes) return bad(lineno, "pattern too long");
  BACKSTOP_TRY(parse_pattern(pattern, &r));
  if (r.exists && (r.target.kind != TargetKind::kHeader && r.target.kind != TargetKind::kDsn)) {
    return bad(lineno, "exists applies only to header: and dsn: targets");
  }
  return r;
}

std::atomic<std::uint64_t> g_next_rules_id{1};

// Per-thread scratch, one per (Rules id, target). Scratch is plain memory: it
// never refers back to the database, so a stale entry is harmless and is
// dropped when the cache fills.
struct ScratchCache {
  // Rule sets alive at once in one thread (old + reloaded, a test's extras).
  static constexpr std::size_t kMaxEntries = 64;
  struct Entry {
    std::uint64_t rules_id;
    std::size_t target;
    hs_scratch_t* scratch;
  };
  std::vector<Entry> entries;
  ~ScratchCache() { clear(); }
  void clear() {
    for (auto& e : entries) hs_free_scratch(e.scratch);
    entries.clear();
  }
  hs_scratch_t* get(std::uint64_t id, std::size_t target, const hs_database_t* db) {
    for (auto& e : entries) {
      if (e.rules_id == id && e.target == target) return e.scratch;
    }
    if (entries.size() >= kMaxEntries) clear();
    hs_scratch_t* s = nullptr;
    if (hs_alloc_scratch(db, &s) != HS_SUCCESS) return nullptr;
    entries.push_back({id, target, s});
    return s;
  }
};

struct MatchContext {
  const std::vector<std::size_t>* ids;
  std::vector<char>* fired;
};

int on_match(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
  auto* m = static_cast<MatchContext*>(ctx);
  if (id < m->ids->size()) (*m->fired)[(*m->ids)[id]] = 1;
  return 0;
}

// The cache key of a database (rules_cache.h): SHA-256 of the matcher's
// version and every expression with its flags and id, in hex.
std::string database_key(const std::vector<const char*>& exprs, const std::vector<unsigned>& flags,
                         const std::vector<unsigned>& ids) {
  std::string in = "backstop-rules-db-1";
  in.push_back('\0');
  in += hs_version();
  for (std::size_t i = 0; i < exprs.size(); ++i) {
    in.push_back('\0');
    in += std::to_string(flags[i]) + "/" + std::to_string(ids[i]) + "/";
    in += exprs[i];
  }
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), d);
  std::string hex;
  for (unsigned char c : d) {
    hex += "0123456789abcdef"[c >> 4];
    hex += "0123456789abcdef"[c & 15];
  }
  return hex;
}

// A database read back from `cache`, or null.
hs_database_t* cached_database(DatabaseCache& cache, const std::string& key) {
  auto bytes = cache.load(key);
  if (!bytes) return nullptr;
  hs_database_t* db = nullptr;
  if (hs_deserialize_database(bytes->data(), bytes->size(), &db) != HS_SUCCESS) return nullptr;
  return db;
}

void cache_database(DatabaseCache& cache, const std::string& key, const hs_database_t* db) {
  char* bytes = nullptr;
  std::size_t len = 0;
  if (hs_serialize_database(db, &bytes, &len) != HS_SUCCESS || bytes == nullptr) return;
  cache.store(key, std::string_view(bytes, len));
  std::free(bytes);  // vectorscan's default allocator is malloc
}

Result<std::shared_ptr<Database>> compile_target(const std::vector<Rule>& rules, const std::vector<std::size_t>& ids,
                                                 DatabaseCache* cache) {
  std::vector<const char*> exprs;
  std::vector<unsigned> flags;
  std::vector<unsigned> hs_ids;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const Rule& r = rules[ids[i]];
    exprs.push_back(r.pattern.c_str());
    unsigned f = HS_FLAG_SINGLEMATCH | HS_FLAG_MULTILINE;
    if (!r.case_sensitive) f |= HS_FLAG_CASELESS;
    if (r.dotall) f |= HS_FLAG_DOTALL;
    flags.push_back(f);
    hs_ids.push_back(static_cast<unsigned>(i));
  }
  std::string key;
  if (cache) {
    key = database_key(exprs, flags, hs_ids);
    if (hs_database_t* db = cached_database(*cache, key)) return std::make_shared<Database>(db);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(exprs.data(), flags.data(), hs_ids.data(), static_cast<unsigned>(exprs.size()),
                       HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
    std::string msg = err && err->message ? err->message : "compile failed";
    int line = 0;
    if (err && err->expression >= 0 && static_cast<std::size_t>(err->expression) < ids.size()) {
      line = rules[ids[static_cast<std::size_t>(err->expression)]].line;
    }
    hs_free_compile_error(err);
    return bad(line, "pattern rejected: " + msg);
  }
  if (cache) cache_database(*cache, key, db);
  return std::make_shared<Database>(db);
}

}  // namespace

Kind bucket_kind(Bucket b) noexcept {
  switch (b) {
    case Bucket::kBounce: return Kind::kBounce;
    case Bucket::kVirusNotice: return Kind::kVirusNotice;
    case Bucket::kChallenge: return Kind::kChallenge;
    case Bucket::kSubscriptionConfirm: return Kind::kSubscriptionConfirm;
    case Bucket::kAutoreply: return Kind::kAutoreply;
    case Bucket::kAuto:
    case Bucket::kFeedback: break;
  }
  return Kind::kNone;
}

Rules::Rules(std::vector<Rule> rules, std::vector<TargetDb> dbs, std::uint64_t id)
    : rules_(std::move(rules)), dbs_(std::move(dbs)), id_(id) {}
Rules::~Rules() = default;

bool Rules::match(std::size_t target_index, std::string_view text, std::vector<char>& fired) const {
  thread_local ScratchCache cache;
  const TargetDb& t = dbs_[target_index];
  if (!t.db || text.empty()) return true;
  hs_scratch_t* scratch = cache.get(id_, target_index, t.db->get());
  if (scratch == nullptr) return false;
  MatchContext ctx{&t.rule_ids, &fired};
  const auto len = static_cast<unsigned>(std::min<std::size_t>(text.size(), 0xffffffffu));
  return hs_scan(t.db->get(), text.data(), len, 0, scratch, on_match, &ctx) == HS_SUCCESS;
}

Result<std::vector<Rule>> parse_rules(std::string_view text) {
  std::vector<Rule> rules;
  std::unordered_map<std::string, int> names;
  int lineno = 0;
  while (!text.empty()) {
    ++lineno;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    line = text::trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto r = parse_line(line, lineno);
    if (!r) return unexpected<Error>(std::move(r).error());
    if (!names.emplace(r->name, lineno).second) return bad(lineno, "duplicate rule name " + r->name);
    if (rules.size() >= kMaxRules) return bad(lineno, "too many rules");
    rules.push_back(std::move(*r));
  }
  if (rules.empty()) return fail(Code::kMalformed, "rules: no rules");
  return rules;
}

Result<std::shared_ptr<const Rules>> compile_rules(std::string_view text) {
  return compile_rules_cached(text, nullptr);
}

Result<std::shared_ptr<const Rules>> compile_rules_cached(std::string_view text, DatabaseCache* cache) {
  auto parsed = parse_rules(text);
  if (!parsed) return unexpected<Error>(std::move(parsed).error());
  std::vector<Rule> rules = std::move(*parsed);
  std::vector<TargetDb> dbs;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    auto it = std::find_if(dbs.begin(), dbs.end(),
                           [&](const TargetDb& t) { return t.target == rules[i].target; });
    if (it == dbs.end()) {
      dbs.push_back(TargetDb{rules[i].target, {}, {}, nullptr});
      it = dbs.end() - 1;
    }
    (rules[i].exists ? it->exists_ids : it->rule_ids).push_back(i);
  }
  for (auto& t : dbs) {
    if (t.rule_ids.empty()) continue;
    auto db = compile_target(rules, t.rule_ids, cache);
    if (!db) return unexpected<Error>(std::move(db).error());
    t.db = std::move(*db);
  }
  return std::make_shared<const Rules>(std::move(rules), std::move(dbs), g_next_rules_id++);
}

Result<std::shared_ptr<const Rules>> load_rules_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    return fail(e == ENOENT ? Code::kNotFound : Code::kEnvironment,
                "rules file " + path + ": " + std::strerror(e));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail(Code::kEnvironment, "rules file " + path + ": read error");
  auto r = compile_rules_cached(ss.str(), default_database_cache());
  if (!r) return fail(r.error().code(), path + ": " + r.error().message());
  return r;
}

Result<std::shared_ptr<const Rules>> builtin_rules() {
  static std::once_flag once;
  static Result<std::shared_ptr<const Rules>>* cached = nullptr;
  std::call_once(once, [] {
    cached = new Result<std::shared_ptr<const Rules>>(compile_rules_cached(builtin_rules_text(), default_database_cache()));
  });
  return *cached;
}

}  // namespace backstop::classify
