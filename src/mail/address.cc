#include "mail/address.h"

#include "mail/header.h"

namespace backstop::mail {
namespace {

enum class Tok { kWord, kQuoted, kComment, kLiteral, kSpecial };

struct Token {
  Tok kind;
  std::string text;  // word text, unquoted content, comment text, [literal], or the special
  bool space_before = false;
};

bool is_special(char c) {
  return c == '<' || c == '>' || c == '@' || c == ',' || c == ':' || c == ';' || c == '(' ||
         c == ')' || c == '"' || c == '[' || c == ']';
}
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Splits a structured field value into tokens in one linear pass. Comments
// nest up to `max_depth`; deeper text is dropped (the nesting is still
// tracked by a counter, so the scan stays linear and iterative).
class Tokenizer {
 public:
  Tokenizer(std::string_view s, std::size_t max_depth) : s_(s), max_depth_(max_depth) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    bool space = false;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (is_ws(c)) {
        space = true;
        ++i_;
        continue;
      }
      Token t{Tok::kWord, {}, space};
      space = false;
      if (c == '(') {
        t.kind = Tok::kComment;
        t.text = comment();
      } else if (c == '"') {
        std::size_t save = i_;
        if (auto q = quoted()) {
          t.kind = Tok::kQuoted;
          t.text = std::move(*q);
        } else {  // unterminated: read the quote mark as text
          i_ = save + 1;
          t.text = "\"" + word();
        }
      } else if (c == '[') {
        t.kind = Tok::kLiteral;
        t.text = literal();
      } else if (is_special(c)) {
        t.kind = Tok::kSpecial;
        t.text.assign(1, c);
        ++i_;
      } else {
        t.text = word();
      }
      out.push_back(std::move(t));
    }
    return out;
  }

 private:
  std::string word() {
    std::string w;
    while (i_ < s_.size() && !is_ws(s_[i_]) && !is_special(s_[i_])) {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
      w.push_back(s_[i_++]);
    }
    return w;
  }
  // At '"'. Unquoted content, or nullopt (position unchanged) when unterminated.
  std::optional<std::string> quoted() {
    std::string q;
    std::size_t j = i_ + 1;
    while (j < s_.size()) {
      const char c = s_[j];
      if (c == '\\' && j + 1 < s_.size()) {
        q.push_back(s_[j + 1]);
        j += 2;
      } else if (c == '"') {
        i_ = j + 1;
        return q;
      } else {
        if (c != '\r' && c != '\n') q.push_back(c);
        ++j;
      }
    }
    return std::nullopt;
  }
  // At '('. Reads to the matching ')' or the end of input.
  std::string comment() {
    std::string text;
    std::size_t depth = 0;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '\\' && i_ < s_.size()) {
        if (depth <= max_depth_) text.push_back(s_[i_]);
        ++i_;
        continue;
      }
      if (c == '(') {
        if (++depth == 1) continue;
      } else if (c == ')') {
        if (--depth == 0) break;
      }
      if (depth <= max_depth_) text.push_back(c);
    }
    return std::string(trim(text));
  }
  std::string literal() {
    std::string lit;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (!is_ws(c)) lit.push_back(c);
      if (c == ']') break;
    }
    return lit;
  }

  std::string_view s_;
  std::size_t max_depth_;
  std::size_t i_ = 0;
};

bool is_special_tok(const Token& t, char c) { return t.kind == Tok::kSpecial && t.text[0] == c; }

// local@domain from the tokens of an addr-spec (comments ignored).
bool fill_addr_spec(const std::vector<const Token*>& toks, Address& a) {
  std::size_t at = toks.size();
  for (std::size_t k = 0; k < toks.size(); ++k) {
    if (is_special_tok(*toks[k], '@')) at = k;
  }
  auto join = [&](std::size_t from, std::size_t to) {
    std::string s;
    for (std::size_t k = from; k < to; ++k) {
      if (toks[k]->kind != Tok::kSpecial) s += toks[k]->text;
    }
    return s;
  };
  if (at == toks.size()) {
    // No '@': a bare local part ("MAILER-DAEMON") only when it is one word.
    std::size_t words = 0;
    for (const Token* t : toks) words += t->kind != Tok::kSpecial ? 1 : 0;
    if (words != 1) return false;
    a.local = join(0, toks.size());
    return !a.local.empty();
  }
  a.local = join(0, at);
  a.domain = join(at + 1, toks.size());
  return !a.local.empty() || !a.domain.empty();
}

// Assembles one mailbox from its tokens (between top-level commas).
class MailboxBuilder {
 public:
  void add(const Token& t) {
    if (in_angle_) {
      if (is_special_tok(t, '>')) {
        in_angle_ = false;
      } else if (is_special_tok(t, ':')) {
        angle_.clear();  // obsolete route "@a,@b:" ends here
      } else if (t.kind != Tok::kComment) {
        angle_.push_back(&t);
      }
      return;
    }
    if (is_special_tok(t, '<')) {
      in_angle_ = true;
      has_angle_ = true;
      return;
    }
    if (t.kind == Tok::kComment) {
      if (!t.text.empty()) last_comment_ = &t;
      return;
    }
    if (!has_angle_) outside_.push_back(&t);
  }
  bool empty() const { return outside_.empty() && angle_.empty() && !has_angle_; }

  std::optional<Address> build(const std::string& group, const Limits& limits) {
    Address a;
    a.group = group;
    bool ok;
    if (has_angle_) {
      ok = fill_addr_spec(angle_, a);
      std::string phrase;
      for (const Token* t : outside_) {
        if (t->kind == Tok::kSpecial && t->text != ".") continue;
        if (!phrase.empty() && t->space_before) phrase.push_back(' ');
        phrase += t->text;
      }
      a.display_name = clean_display(phrase, limits);
      if (a.display_name.empty() && last_comment_ != nullptr) {  // "<a@b> (Name)"
        a.display_name = clean_display(last_comment_->text, limits);
      }
    } else {
      ok = fill_addr_spec(outside_, a);
      if (last_comment_ != nullptr) a.display_name = clean_display(last_comment_->text, limits);
    }
    if (!ok) return std::nullopt;
    return a;
  }

 private:
  static std::string clean_display(std::string_view phrase, const Limits& limits) {
    phrase = trim(phrase);
    while (!phrase.empty() && (phrase.front() == '"' || phrase.front() == '\'')) phrase.remove_prefix(1);
    while (!phrase.empty() && (phrase.back() == '"' || phrase.back() == '\'')) phrase.remove_suffix(1);
    return decode_rfc2047(trim(phrase), limits);
  }

  std::vector<const Token*> outside_;
  std::vector<const Token*> angle_;
  const Token* last_comment_ = nullptr;
  bool in_angle_ = false;
  bool has_angle_ = false;
};

bool needs_quoting(std::string_view local) {
  if (local.empty() || local.front() == '.' || local.back() == '.') return true;
  for (std::size_t k = 0; k < local.size(); ++k) {
    const char c = local[k];
    const auto u = static_cast<unsigned char>(c);
    if (c == '.' && k + 1 < local.size() && local[k + 1] == '.') return true;
    if (u <= 32 || u == 127 || (is_special(c) && c != '.') || c == '\\') return true;
  }
  return false;
}

}  // namespace

std::string Address::addr_spec() const {
  std::string out;
  if (needs_quoting(local) && !local.empty()) {
    out.push_back('"');
    for (char c : local) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  } else {
    out = local;
  }
  if (!domain.empty()) {
    out.push_back('@');
    out += domain;
  }
  return out;
}

Result<std::vector<Address>> parse_address_list(std::string_view value, const Limits& limits) {
  const std::vector<Token> toks = Tokenizer(value, limits.max_comment_depth).run();
  std::vector<Address> out;
  std::string group;
  bool saw_group = false;
  bool in_group = false;
  MailboxBuilder mb;
  bool in_angle = false;
  auto finish = [&] {
    if (!mb.empty() && out.size() < limits.max_addresses) {
      if (auto a = mb.build(group, limits)) out.push_back(std::move(*a));
    }
    mb = MailboxBuilder();
  };
  std::vector<const Token*> pending_phrase;  // words that may turn out to be a group name
  for (const Token& t : toks) {
    if (out.size() >= limits.max_addresses) break;
    if (!in_angle && is_special_tok(t, ':') && !in_group) {
      // "name: a, b;" — the words so far were the group name, not a mailbox.
      std::string name;
      for (const Token* p : pending_phrase) {
        if (!name.empty() && p->space_before) name.push_back(' ');
        name += p->text;
      }
      group = decode_rfc2047(trim(name), limits);
      saw_group = true;
      in_group = true;
      mb = MailboxBuilder();
      pending_phrase.clear();
      continue;
    }
    if (!in_angle && is_special_tok(t, ';')) {
      finish();
      group.clear();
      in_group = false;
      pending_phrase.clear();
      continue;
    }
    if (!in_angle && is_special_tok(t, ',')) {
      finish();
      pending_phrase.clear();
      continue;
    }
    if (is_special_tok(t, '<')) in_angle = true;
    if (is_special_tok(t, '>')) in_angle = false;
    if (!in_angle && (t.kind == Tok::kWord || t.kind == Tok::kQuoted)) pending_phrase.push_back(&t);
    mb.add(t);
  }
  finish();
  if (out.empty() && !saw_group && !trim(value).empty()) {
    return fail(Code::kMalformed, "no address in address list");
  }
  return out;
}

Result<std::optional<Address>> parse_smtp_path(std::string_view path) {
  std::string_view p = trim(path);
  if (!p.empty() && p.front() == '<') {
    const std::size_t close = p.find('>');
    p = p.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
  }
  p = trim(p);
  if (p.empty()) return std::optional<Address>{};
  if (p.front() == '@') {  // source route "@a,@b:user@c"
    const std::size_t colon = p.find(':');
    if (colon == std::string_view::npos) return fail(Code::kMalformed, "source route without ':'");
    p = p.substr(colon + 1);
  }
  const std::vector<Token> toks = Tokenizer(p, kDefaultLimits.max_comment_depth).run();
  std::vector<const Token*> spec;
  for (const Token& t : toks) {
    if (t.kind != Tok::kComment) spec.push_back(&t);
  }
  Address a;
  if (!fill_addr_spec(spec, a) || a.local.empty()) return fail(Code::kMalformed, "not an SMTP path");
  return std::optional<Address>(std::move(a));
}

}  // namespace backstop::mail
