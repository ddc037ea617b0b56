#include "audit/scanners.h"

#include <algorithm>
#include <map>
#include <optional>

#include "common/text.h"

namespace backstop::audit {
namespace {

std::string at(const std::string& name, std::size_t line) { return name + ":" + std::to_string(line); }

// ---- amavisd-new ----------------------------------------------------------

struct Assignment {
  std::string value;  // the right-hand side, trimmed
  std::string where;
};

// `$name = value;` statements of a Perl configuration file. Comments (#
// outside quotes) are dropped; anything else (lists, hashes, code) is
// skipped. Statement boundaries are `;` outside quotes and brackets.
void amavis_assignments(const NamedText& f, std::map<std::string, Assignment>* out) {
  std::string_view t = f.text;
  std::string stmt;
  std::size_t line = 1, stmt_line = 1;
  char quote = 0;
  int depth = 0;
  bool comment = false;
  auto finish = [&] {
    std::string_view s = text::trim(stmt);
    if (s.size() > 1 && s.front() == '$') {
      const auto eq = s.find('=');
      if (eq != std::string_view::npos && eq + 1 < s.size() && s[eq + 1] != '=' && s[eq + 1] != '~' &&
          (eq == 0 || (s[eq - 1] != '!' && s[eq - 1] != '=' && s[eq - 1] != '<' && s[eq - 1] != '>'))) {
        const std::string name(text::trim(s.substr(1, eq - 1)));
        if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
            })) {
          (*out)[name] = Assignment{std::string(text::trim(s.substr(eq + 1))), at(f.name, stmt_line)};
        }
      }
    }
    stmt.clear();
  };
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '\n') {
      ++line;
      comment = false;
      if (text::trim(stmt).empty()) stmt_line = line;
      stmt += ' ';
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (c == '\\' && i + 1 < t.size()) {
        stmt += c;
        stmt += t[++i];
        continue;
      }
      if (c == quote) quote = 0;
      stmt += c;
      continue;
    }
    if (c == '#') {
      comment = true;
      continue;
    }
    if (c == '\'' || c == '"') quote = c;
    if (c == '(' || c == '[' || c == '{') ++depth;
    if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
    if (c == ';' && depth == 0) {
      finish();
      stmt_line = line;
      continue;
    }
    if (text::trim(stmt).empty() && !text::is_space(c)) stmt_line = line;
    stmt += c;
  }
  finish();
}

// Perl truth of a simple right-hand side: 0, '0', "", '', undef, () are false.
bool perl_true(std::string_view v) {
  v = text::trim(v);
  return !(v.empty() || v == "0" || v == "'0'" || v == "\"0\"" || v == "''" || v == "\"\"" || v == "undef" ||
           v == "()" || v == "0.0");
}

}  // namespace

std::vector<Finding> lint_amavis(const std::vector<NamedText>& files) {
  std::map<std::string, Assignment> a;
  for (const auto& f : files) amavis_assignments(f, &a);
  std::vector<Finding> out;
  struct Destiny {
    const char* var;
    const char* what;
    Severity bounce;
  };
  for (const Destiny& d : {Destiny{"final_virus_destiny", "infected mail", Severity::kHigh},
                           Destiny{"final_banned_destiny", "mail with banned attachments", Severity::kMedium},
                           Destiny{"final_spam_destiny", "spam", Severity::kMedium},
                           Destiny{"final_bad_header_destiny", "mail with bad headers", Severity::kMedium}}) {
    auto it = a.find(d.var);
    if (it == a.end()) continue;
    const std::string v(text::trim(it->second.value));
    const bool bounce = v == "D_BOUNCE";
    const bool reject = v == "D_REJECT";
    if (!bounce && !reject) continue;
    std::string why = std::string(d.what) + " is answered with a non-delivery notice to its envelope sender, "
                      "which for viruses and spam is forged: the notice goes to an innocent third party";
    if (std::string_view(d.var) == "final_spam_destiny") {
      why += " (amavisd-new skips the notice above $sa_dsn_cutoff_level" +
             std::string(a.contains("sa_dsn_cutoff_level") ? " = " + a["sa_dsn_cutoff_level"].value : ", unset here") +
             ", but not below it)";
    }
    if (reject) {
      why = std::string(d.what) + " is refused with D_REJECT: behind Postfix's content_filter (after the queue) "
            "the refusal reaches Postfix, which bounces the mail to its (often forged) sender; only a "
            "before-queue setup (smtpd_proxy_filter) turns it into an SMTP refusal";
    }
    out.push_back(Finding{"amavis." + std::string(d.var).substr(6) + (bounce ? "-bounce" : "-reject"),
                          reject ? Severity::kMedium : d.bounce, it->second.where,
                          "$" + std::string(d.var) + " = " + v, why,
                          "$" + std::string(d.var) + " = D_DISCARD;   (in " + it->second.where +
                              "; the mail stays in quarantine), then restart amavisd-new"});
  }
  for (const char* w : {"warnvirussender", "warnbannedsender", "warnspamsender", "warnbadhsender"}) {
    auto it = a.find(w);
    if (it == a.end() || !perl_true(it->second.value)) continue;
    out.push_back(Finding{"amavis." + std::string(w), std::string_view(w) == "warnvirussender" ? Severity::kHigh : Severity::kMedium,
                          it->second.where, "$" + std::string(w) + " = " + it->second.value,
                          "amavisd-new mails a warning to the envelope sender of each such message; viruses and "
                          "spam forge their senders, so the warnings are backscatter",
                          "$" + std::string(w) + " = 0;   (in " + it->second.where + "), then restart amavisd-new"});
  }
  return out;
}

std::vector<Finding> lint_clamav(const NamedText& f) {
  std::vector<Finding> out;
  std::string_view t = f.text;
  std::size_t line = 0;
  struct Kv {
    std::string key, value;
    std::size_t line;
  };
  std::vector<Kv> kvs;
  bool colon_syntax = false;
  while (!t.empty()) {
    const auto nl = t.find('\n');
    std::string_view l = text::trim(t.substr(0, nl));
    t.remove_prefix(nl == std::string_view::npos ? t.size() : nl + 1);
    ++line;
    if (l.empty() || l.front() == '#') continue;
    auto end = l.find_first_of(" \t:");
    std::string_view key = l.substr(0, end);
    std::string_view rest = end == std::string_view::npos ? std::string_view{} : l.substr(end);
    if (!rest.empty() && rest.front() == ':') {
      colon_syntax = true;
      rest.remove_prefix(1);
    }
    kvs.push_back(Kv{text::ascii_lower(key), std::string(text::trim(rest)), line});
  }
  const std::string prog = colon_syntax ? "clamsmtp" : "clamav-milter";
  for (const auto& kv : kvs) {
    const std::string v = text::ascii_lower(kv.value);
    if (colon_syntax && ((kv.key == "bounce" && (v == "on" || v == "yes" || v == "true")) ||
                         (kv.key == "action" && v == "bounce"))) {
      out.push_back(Finding{"clamsmtp.bounce", Severity::kHigh, at(f.name, kv.line),
                            kv.key == "bounce" ? "Bounce: " + kv.value : "Action: " + kv.value,
                            "ClamSMTP mails a bounce for each infected message to its envelope sender; viruses "
                            "forge their senders, so these bounces are backscatter",
                            kv.key == "bounce" ? "Bounce: off   (line " + std::to_string(kv.line) + " of " + f.name + ")"
                                               : "Action: drop   (line " + std::to_string(kv.line) + " of " + f.name + ")"});
    }
    if (kv.key == "virusaction" && !kv.value.empty()) {
      out.push_back(Finding{prog + ".virus-action", Severity::kLow, at(f.name, kv.line),
                            "VirusAction " + kv.value,
                            "a script runs for every infected message; if it mails the sender (a common "
                            "example does), each mail goes to a forged address",
                            "make sure " + kv.value + " never writes to the envelope sender, or remove the line"});
    }
    if (!colon_syntax && kv.key == "oninfected" && v == "accept") {
      // Not backscatter by itself: infected mail is delivered. Nothing to report here.
    }
  }
  return out;
}

// ---- Sieve ------------------------------------------------------------------

namespace {

struct Tok {
  enum Kind { kIdent, kTag, kNumber, kString, kPunct } kind;
  std::string text;  // identifiers and tags lower-cased; string contents as is
  std::size_t line;
};

// Sieve lexer (RFC 5228 §8.1), enough for the lint: bounded, never fails
// (garbage becomes punctuation tokens).
std::vector<Tok> sieve_tokens(std::string_view s) {
  std::vector<Tok> out;
  std::size_t i = 0, line = 1;
  auto ident_char = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; };
  while (i < s.size() && out.size() < kMaxSieveTokens) {
    const char c = s[i];
    if (c == '\n') {
      ++line;
      ++i;
      continue;
    }
    if (text::is_space(c)) {
      ++i;
      continue;
    }
    if (c == '#') {
      while (i < s.size() && s[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      i += 2;
      while (i + 1 < s.size() && !(s[i] == '*' && s[i + 1] == '/')) {
        if (s[i] == '\n') ++line;
        ++i;
      }
      i += 2;
      continue;
    }
    const std::size_t start_line = line;
    if (c == '"') {
      std::string str;
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        if (s[i] == '\n') ++line;
        str += s[i++];
      }
      ++i;
      out.push_back(Tok{Tok::kString, std::move(str), start_line});
      continue;
    }
    if (c == ':' && i + 1 < s.size() && ident_char(s[i + 1])) {
      std::size_t j = i + 1;
      while (j < s.size() && ident_char(s[j])) ++j;
      out.push_back(Tok{Tok::kTag, text::ascii_lower(s.substr(i, j - i)), start_line});
      i = j;
      continue;
    }
    if (c >= '0' && c <= '9') {
      std::size_t j = i;
      while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
      if (j < s.size() && std::string_view("KkMmGg").find(s[j]) != std::string_view::npos) ++j;
      out.push_back(Tok{Tok::kNumber, std::string(s.substr(i, j - i)), start_line});
      i = j;
      continue;
    }
    if (ident_char(c)) {
      std::size_t j = i;
      while (j < s.size() && ident_char(s[j])) ++j;
      std::string word = text::ascii_lower(s.substr(i, j - i));
      i = j;
      if (word == "text" && i < s.size() && s[i] == ':') {  // multi-line string up to a lone "."
        ++i;
        while (i < s.size() && s[i] != '\n') ++i;
        std::string str;
        while (i < s.size()) {
          ++i;  // the '\n'
          ++line;
          const auto nl = s.find('\n', i);
          std::string_view l = s.substr(i, nl == std::string_view::npos ? s.size() - i : nl - i);
          if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
          i = nl == std::string_view::npos ? s.size() : nl;
          if (l == ".") break;
          if (l.starts_with("..")) l.remove_prefix(1);
          str.append(l);
          str += '\n';
        }
        out.push_back(Tok{Tok::kString, std::move(str), start_line});
        continue;
      }
      out.push_back(Tok{Tok::kIdent, std::move(word), start_line});
      continue;
    }
    out.push_back(Tok{Tok::kPunct, std::string(1, c), start_line});
    ++i;
  }
  return out;
}

// Seconds of a Sieve number ("7", "1K").
std::optional<unsigned long long> sieve_number(std::string_view n) {
  unsigned long long v = 0;
  std::size_t i = 0;
  for (; i < n.size() && n[i] >= '0' && n[i] <= '9'; ++i) {
    v = std::min<unsigned long long>(v * 10 + static_cast<unsigned>(n[i] - '0'), 1ULL << 40);
  }
  if (i == 0) return std::nullopt;
  if (i < n.size()) {
    const char m = static_cast<char>(text::ascii_lower(n[i]));
    v *= m == 'k' ? 1024ULL : m == 'm' ? 1024ULL * 1024 : 1024ULL * 1024 * 1024;
  }
  return v;
}

constexpr const char* kSieveGuard =
    "if anyof (exists [\"list-id\", \"list-unsubscribe\", \"list-post\"], "
    "header :is \"precedence\" [\"bulk\", \"list\", \"junk\"], "
    "allof (exists \"auto-submitted\", not header :is \"auto-submitted\" \"no\")) { stop; }";

}  // namespace

std::vector<Finding> lint_sieve(const NamedText& script) {
  std::vector<Finding> out;
  const auto toks = sieve_tokens(script.text);
  bool guarded = false;
  for (const auto& t : toks) {
    if (t.kind != Tok::kString) continue;
    const std::string h = text::ascii_lower(text::trim(t.text));
    if (h == "list-id" || h == "list-unsubscribe" || h == "list-post" || h == "list-help" || h == "precedence" ||
        h == "auto-submitted" || h == "x-auto-response-suppress" || h == "mailing-list") {
      guarded = true;
    }
  }
  for (std::size_t i = 0; i < toks.size(); ++i) {
    const Tok& t = toks[i];
    if (t.kind != Tok::kIdent) continue;
    const bool command_position = i == 0 || (toks[i - 1].kind == Tok::kPunct &&
                                             (toks[i - 1].text == ";" || toks[i - 1].text == "{" || toks[i - 1].text == "}"));
    if (!command_position) continue;
    if (t.text == "reject" || t.text == "ereject") {
      out.push_back(Finding{"sieve.reject", Severity::kMedium, at(script.name, t.line), t.text + " in a Sieve script",
                            "Sieve runs after the server accepted the mail, so `" + t.text +
                                "` sends a refusal notice to the envelope sender, which spam forges",
                            "replace `" + t.text + "` with `discard;` or `fileinto \"Junk\";` (line " +
                                std::to_string(t.line) + ")"});
      continue;
    }
    if (t.text != "vacation") continue;
    std::optional<unsigned long long> seconds;
    bool has_interval = false;
    for (std::size_t j = i + 1; j < toks.size() && !(toks[j].kind == Tok::kPunct && toks[j].text == ";"); ++j) {
      if (toks[j].kind != Tok::kTag || (toks[j].text != ":days" && toks[j].text != ":seconds")) continue;
      has_interval = true;
      if (j + 1 < toks.size() && toks[j + 1].kind == Tok::kNumber) {
        auto n = sieve_number(toks[j + 1].text);
        if (n) seconds = toks[j].text == ":days" ? *n * 86400ULL : *n;
      }
    }
    const std::string where = at(script.name, t.line);
    if (!has_interval) {
      out.push_back(Finding{"sieve.vacation-no-days", Severity::kLow, where, "vacation without :days",
                            "the reply interval is then whatever the server's default is (RFC 5230 leaves it to "
                            "the implementation, some use a minimum of a day or less): senders, forged ones "
                            "included, may get a reply again and again",
                            "add `:days 7` to the vacation command on line " + std::to_string(t.line)});
    } else if (seconds && *seconds < 86400) {
      out.push_back(Finding{"sieve.vacation-short-interval", Severity::kMedium, where,
                            "vacation replies to the same sender every " + std::to_string(*seconds) + " s",
                            "an interval under a day answers each message of a mail loop or a spam run with a "
                            "new reply to the (forged) sender",
                            "use `:days 7` on line " + std::to_string(t.line)});
    }
    if (!guarded) {
      out.push_back(Finding{"sieve.vacation-unguarded", Severity::kLow, where,
                            "vacation with no test of List-Id, Precedence or Auto-Submitted in the script",
                            "replies to mailing lists and automated mail (bounces, notifications, spam runs) go "
                            "to addresses that never wrote to the user; RFC 5230 §4.6 asks implementations to "
                            "skip them, and not all do",
                            std::string("put before the vacation command: ") + kSieveGuard});
      guarded = true;  // one such finding per script
    }
  }
  return out;
}

}  // namespace backstop::audit
