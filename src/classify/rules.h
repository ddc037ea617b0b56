// The compiled rules: the rules file (docs/rules.md) parsed into Rule records
// and compiled into one vectorscan block-mode database per target.
// Internal to classify; the public entry points are in classifier.h.
// Thread-safety: immutable after compile_rules(); match() may be called from
// any number of threads (each thread clones its own scratch space).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"

namespace backstop::classify {

// What a rule's weight counts towards: one of the five kinds, kAuto
// (evidence that a machine wrote the message, which strengthens whichever
// kind already has evidence of its own), or kFeedback (an abuse/feedback
// report that is not RFC 5965-shaped: marks the verdict as a feedback report
// and forces kind none).
enum class Bucket : std::uint8_t {
  kBounce, kVirusNotice, kChallenge, kSubscriptionConfirm, kAutoreply, kAuto, kFeedback
};
inline constexpr std::size_t kBucketCount = 7;
Kind bucket_kind(Bucket b) noexcept;  // kNone for kAuto and kFeedback

// Where a rule looks.
enum class TargetKind : std::uint8_t {
  kSubject,        // decoded Subject
  kFrom,           // decoded From value
  kFromLocalpart,  // local part of the first From address
  kHeader,         // every value of one named top-level header field
  kBody,           // Message::text (the responder's own words)
  kEmbedded,       // Message::embedded_text (the returned original)
  kDsn,            // every value of one delivery-status field
};

struct Target {
  TargetKind kind = TargetKind::kSubject;
  std::string name;  // lower-case field name for kHeader / kDsn, else ""
  bool operator==(const Target&) const = default;
};

// Properties of a rule that the engine's fixed precedence reads
// (docs/rules.md, "How the engine combines signals"); a bit set in
// Rule::flags. The rules file names them in the optional `flags=` column.
enum RuleFlag : std::uint8_t {
  // The rule recognises a ticket or receipt acknowledgement: when one fires
  // and the message would be a bounce, it is an autoreply instead, unless
  // the message is a delivery report.
  kFlagTicket = 1u << 0,
};
inline constexpr std::uint8_t kKnownRuleFlags = kFlagTicket;

struct Rule {
  std::string name;
  Target target;
  std::vector<Bucket> buckets;  // the weight counts for each of these
  double weight = 0;
  std::string pattern;  // regex text as given to the matcher ("" for exists)
  bool exists = false;  // fires when the target is present, no pattern
  bool case_sensitive = false;
  bool dotall = false;
  std::uint8_t flags = 0;  // RuleFlag bits
  int line = 0;         // line in the rules text
};

class Database;

// One compiled database: the rules of one target.
struct TargetDb {
  Target target;
  std::vector<std::size_t> rule_ids;     // pattern rules, by matcher id
  std::vector<std::size_t> exists_ids;   // "exists" rules
  std::shared_ptr<Database> db;          // null when no pattern rules
};

class Rules {
 public:
  Rules(std::vector<Rule> rules, std::vector<TargetDb> dbs, std::uint64_t id);
  ~Rules();
  Rules(const Rules&) = delete;
  Rules& operator=(const Rules&) = delete;

  const std::vector<Rule>& rules() const noexcept { return rules_; }
  const std::vector<TargetDb>& targets() const noexcept { return dbs_; }

  // Scans `text` with the database of targets()[target_index] and sets
  // fired[rule id] for every rule that matches. `fired` has rules().size()
  // entries. Returns false when the matcher failed (the scan is skipped).
  bool match(std::size_t target_index, std::string_view text, std::vector<char>& fired) const;

 private:
  std::vector<Rule> rules_;
  std::vector<TargetDb> dbs_;
  std::uint64_t id_;  // unique per compiled Rules, keys per-thread scratch
};

// True for the names of the structural signals the engine computes in code
// ("delivery-status", "null-sender", ...): no rule may take one as its name,
// or Verdict::signals and describe_signal() could not tell them apart.
bool is_structural_signal(std::string_view name) noexcept;

class DatabaseCache;  // rules_cache.h
// compile_rules (classifier.h) reading and writing compiled databases through
// `cache` (null: none). builtin_rules() and load_rules_file() use
// default_database_cache(); compile_rules() never touches a cache.
Result<std::shared_ptr<const Rules>> compile_rules_cached(std::string_view text, DatabaseCache* cache);

// Parses the rules text without compiling (exposed for tests and docs).
Result<std::vector<Rule>> parse_rules(std::string_view text);

// The embedded copy of rules/backscatter.rules (generated at build time).
std::string_view builtin_rules_text() noexcept;

}  // namespace backstop::classify
