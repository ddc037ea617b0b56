#include "classify/classifier.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "classify/refs.h"
#include "classify/rules.h"
#include "mail/address.h"
#include "mail/header.h"

namespace backstop::classify {
namespace {

// Body text scanned for phrases: a responder states what it is in the first
// lines; scanning 256 KiB of a quoted original would cost time and precision.
constexpr std::size_t kMaxBodyScan = 32 * 1024;
// Embedded original text scanned (for rules that look at the returned mail).
constexpr std::size_t kMaxEmbeddedScan = 16 * 1024;
// A kind's score must reach this for the message to be flagged.
constexpr double kThreshold = 1.0;
// Machine-origin evidence adds at most this to a kind that has its own.
constexpr double kAutoCap = 1.0;
// A rule weighing less than this is weak: it needs a second, independent signal.
constexpr double kStrongWeight = 1.0;
// Weak rules of one target together count at most this much per kind.
constexpr double kWeakCapPerTarget = 0.5;

// Weights of the structural signals (the phrase and header weights are data).
constexpr double kReportDeliveryStatus = 2.0;  // RFC 3462 multipart/report; report-type=delivery-status
constexpr double kDeliveryStatusPart = 1.5;    // a parsed message/delivery-status part
constexpr double kDsnFailedOrDelayed = 0.5;    // an Action: failed / delayed field
constexpr double kEmbeddedOriginal = 0.5;      // auto: a message/rfc822 or headers part
constexpr double kNullSender = 0.5;            // auto: MAIL FROM:<>
constexpr double kMdn = 0.5;                   // auto: a disposition notification
constexpr double kReplyShape = 0.5;            // autoreply: a short, unquoted "Re:" answer
constexpr double kQuotingReply = -0.5;         // autoreply, bounce: a "Re:" that quotes the original

// The reply shape: a responder's own text at most this long (after trimming)
// is "short". Vacation texts are a few lines; a person's answer that quotes
// nothing and says little looks the same, so the shape is weak evidence.
constexpr std::size_t kReplyShapeMaxText = 1024;

// Where a contribution comes from. A kind is flagged only with evidence of
// structure (message structure, envelope, header fields, machine origin) or
// with phrases in at least two different targets: one phrase, however
// strong its weight, never makes a kind alone (docs/rules.md).
enum class Source : std::uint8_t { kStructure, kPhrase };
constexpr std::size_t kMinPhraseTargets = 2;

struct Scores {
  std::array<double, kBucketCount> v{};
  // structure[k]: some positive structural evidence counted for kind k;
  // phrase_targets[k]: how many different phrase targets did.
  std::array<bool, kBucketCount> structure{};
  std::array<int, kBucketCount> phrase_targets{};
  std::vector<std::string> signals;
  void add(Bucket b, double w, std::string signal) {
    v[static_cast<std::size_t>(b)] += w;
    if (w > 0) structure[static_cast<std::size_t>(b)] = true;
    signals.push_back(std::move(signal));
  }
};

Source source_of(TargetKind t) {
  switch (t) {
    case TargetKind::kSubject:
    case TargetKind::kBody:
    case TargetKind::kEmbedded: return Source::kPhrase;
    default: return Source::kStructure;
  }
}

bool is_reply_prefix(std::string_view subject) {
  // "Re:" and the translations mail programs write (AW, SV, Odp, Ynt...),
  // after a list's "[tag] " if there is one.
  static constexpr std::string_view kPrefixes[] = {"re:", "aw:", "sv:", "odp:", "ynt:", "antw:", "vs:", "ref:", "r:"};
  subject = mail::trim(subject);
  if (subject.starts_with('[')) {
    const std::size_t close = subject.find(']');
    if (close != std::string_view::npos) subject = mail::trim(subject.substr(close + 1));
  }
  const std::string lower = mail::ascii_lower(subject.substr(0, 8));
  for (std::string_view p : kPrefixes) {
    if (lower.starts_with(p)) return true;
  }
  return false;
}

enum class ReplyShape : std::uint8_t { kNone, kShortUnquoted, kQuoting };

// The shape of a "Re:" message. kShortUnquoted: a text of at most
// kReplyShapeMaxText bytes, no line quoting the original ("> ..."), no
// attachment of the original: what vacation programs send (weak alone).
// kQuoting: a line quotes the original, as people's replies do and
// responders seldom do (evidence against autoreply).
ReplyShape reply_shape(const mail::Message& m) {
  auto subject = m.headers.get("Subject");
  if (!subject || !is_reply_prefix(mail::decode_rfc2047(*subject))) return ReplyShape::kNone;
  const std::string_view text = mail::trim(m.text);
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = mail::trim(text.substr(pos, end - pos));
    if (line.starts_with('>')) return ReplyShape::kQuoting;
    pos = end + 1;
  }
  if (!m.embedded.empty() || text.empty() || text.size() > kReplyShapeMaxText) return ReplyShape::kNone;
  return ReplyShape::kShortUnquoted;
}

std::string joined(const mail::HeaderList& h, std::string_view name, bool* present) {
  std::string out;
  for (const auto& f : h.fields()) {
    if (!mail::iequals(f.name, name)) continue;
    *present = true;
    if (!out.empty()) out.push_back('\n');
    out += f.value;
  }
  return out;
}

std::string dsn_joined(const mail::Message& m, std::string_view name, bool* present) {
  std::string out;
  auto add = [&](const mail::DsnFields& d) {
    for (const auto& f : d.fields) {
      if (f.name != name) continue;
      *present = true;
      if (!out.empty()) out.push_back('\n');
      out += f.value;
    }
  };
  for (const auto& ds : m.delivery_status) {
    add(ds.per_message);
    for (const auto& pr : ds.per_recipient) add(pr);
  }
  return out;
}

std::string from_localpart(const mail::Message& m) {
  auto from = m.headers.get("From");
  if (!from) return {};
  auto list = mail::parse_address_list(*from);
  if (list && !list->empty()) return mail::ascii_lower((*list)[0].local);
  return {};
}

// Runs every rule database over its target text. False when a scan failed
// (its rules then simply do not fire).
bool run_rules(const Rules& rules, const mail::Message& m, std::vector<char>& fired) {
  std::string subject, from;
  bool have_subject = false, have_from = false, ok = true;
  for (std::size_t i = 0; i < rules.targets().size(); ++i) {
    const TargetDb& t = rules.targets()[i];
    bool present = false;
    std::string owned;
    std::string_view text;
    switch (t.target.kind) {
      case TargetKind::kSubject:
        if (!have_subject) {
          if (auto v = m.headers.get("Subject")) subject = mail::decode_rfc2047(*v);
          have_subject = true;
        }
        text = subject;
        break;
      case TargetKind::kFrom:
        if (!have_from) {
          if (auto v = m.headers.get("From")) from = mail::decode_rfc2047(*v);
          have_from = true;
        }
        text = from;
        break;
      case TargetKind::kFromLocalpart:
        owned = from_localpart(m);
        text = owned;
        break;
      case TargetKind::kHeader:
        owned = joined(m.headers, t.target.name, &present);
        text = owned;
        break;
      case TargetKind::kDsn:
        owned = dsn_joined(m, t.target.name, &present);
        text = owned;
        break;
      case TargetKind::kBody:
        text = std::string_view(m.text).substr(0, kMaxBodyScan);
        break;
      case TargetKind::kEmbedded:
        text = std::string_view(m.embedded_text).substr(0, kMaxEmbeddedScan);
        break;
    }
    if (present) {
      for (std::size_t id : t.exists_ids) fired[id] = 1;
    }
    ok &= rules.match(i, text, fired);
  }
  return ok;
}

// Computes the structural signals into `s`. *arf: an RFC 5965 report;
// *delivery_report: a delivery-status report or part (the ticket
// precedence does not apply to one).
void structural(const mail::Message& m, const mail::Envelope& env, Scores& s, bool* arf, bool* delivery_report) {
  bool report_ds = false, mdn = false;
  for (const auto& p : m.parts) {
    if (p.type == "message" && p.subtype == "feedback-report") *arf = true;
    if (p.type != "multipart" || p.subtype != "report") continue;
    if (p.report_type == "feedback-report") *arf = true;
    if (p.report_type == "delivery-status" || p.report_type == "global-delivery-status") report_ds = true;
    if (p.report_type == "disposition-notification") mdn = true;
  }
  if (*arf) s.signals.push_back("arf");
  *delivery_report = report_ds || !m.delivery_status.empty();
  if (report_ds) s.add(Bucket::kBounce, kReportDeliveryStatus, "report:delivery-status");
  if (mdn) s.add(Bucket::kAuto, kMdn, "report:disposition-notification");
  if (!m.delivery_status.empty()) {
    s.add(Bucket::kBounce, kDeliveryStatusPart, "delivery-status");
    bool failed = false, delayed = false, success = false;
    for (const auto& ds : m.delivery_status) {
      for (const auto& pr : ds.per_recipient) {
        const std::string a = mail::ascii_lower(mail::trim(pr.get("action")));
        if (a.starts_with("failed")) failed = true;
        else if (a.starts_with("delayed")) delayed = true;
        else if (a.starts_with("deliver") || a.starts_with("relayed") || a.starts_with("expanded")) success = true;
      }
    }
    if (failed) s.add(Bucket::kBounce, kDsnFailedOrDelayed, "dsn-action:failed");
    if (delayed) s.add(Bucket::kBounce, kDsnFailedOrDelayed, "dsn-action:delayed");
    // A success DSN (NOTIFY=SUCCESS, sendmail -bv) is a DSN all the same: one
    // that reaches a forged sender is backscatter, and correlation accepts the
    // ones that answer our users' mail. The signal says which kind it is.
    if (success && !failed && !delayed) s.signals.push_back("dsn-success-only");
  }
  bool rfc822 = false, headers_only = false;
  for (const auto& e : m.embedded) {
    if (e.kind == "rfc822-headers") headers_only = true;
    else rfc822 = true;
  }
  if (rfc822) s.add(Bucket::kAuto, kEmbeddedOriginal, "embedded:rfc822");
  if (headers_only) s.add(Bucket::kAuto, kEmbeddedOriginal, "embedded:headers");
  if (env.known && env.mail_from.empty()) s.add(Bucket::kAuto, kNullSender, "null-sender");
  switch (reply_shape(m)) {
    case ReplyShape::kShortUnquoted: s.add(Bucket::kAutoreply, kReplyShape, "reply-shape"); break;
    case ReplyShape::kQuoting:
      // A person's reply that quotes a notice is neither the notice nor an
      // autoreply.
      s.v[static_cast<std::size_t>(Bucket::kAutoreply)] += kQuotingReply;
      s.add(Bucket::kBounce, kQuotingReply, "quoting-reply");
      break;
    case ReplyShape::kNone: break;
  }
}

// Kinds in the order that wins a tie: the more specific first.
constexpr std::array<Bucket, 5> kTieOrder = {Bucket::kVirusNotice, Bucket::kChallenge,
                                             Bucket::kSubscriptionConfirm, Bucket::kBounce,
                                             Bucket::kAutoreply};

struct Structural {
  std::string_view name;
  std::string_view what;
  double weight;
  std::string_view bucket;
};
constexpr Structural kStructural[] = {
    {"arf", "an ARF feedback report (RFC 5965): never a backscatter kind", 0, "none"},
    {"report:delivery-status", "multipart/report; report-type=delivery-status", kReportDeliveryStatus, "bounce"},
    {"report:disposition-notification", "a disposition notification (RFC 8098)", kMdn, "auto"},
    {"delivery-status", "a message/delivery-status part (RFC 3464)", kDeliveryStatusPart, "bounce"},
    {"dsn-action:failed", "a DSN recipient with Action: failed", kDsnFailedOrDelayed, "bounce"},
    {"dsn-action:delayed", "a DSN recipient with Action: delayed", kDsnFailedOrDelayed, "bounce"},
    {"dsn-success-only", "every DSN recipient was delivered/deliverable/relayed/expanded (a success DSN)", 0, "bounce"},
    {"embedded:rfc822", "the original message is attached (message/rfc822)", kEmbeddedOriginal, "auto"},
    {"embedded:headers", "the original's headers are attached (text/rfc822-headers)", kEmbeddedOriginal, "auto"},
    {"null-sender", "the envelope sender is <>", kNullSender, "auto"},
    {"reply-shape", "Subject \"Re: ...\", a short text, nothing quoted (a vacation program's answer)", kReplyShape, "autoreply"},
    {"quoting-reply", "Subject \"Re: ...\" and a line quoting the original (a person's reply)", kQuotingReply, "autoreply,bounce"},
    {"matcher-error", "a pattern scan failed (out of memory); some rules may not have fired", 0, "none"},
};

std::string_view flag_text(std::uint8_t flags) {
  return (flags & kFlagTicket) != 0 ? ", flags=ticket" : "";
}

std::string_view target_text(const Target& t, std::string& buf) {
  switch (t.kind) {
    case TargetKind::kSubject: return "subject";
    case TargetKind::kFrom: return "from";
    case TargetKind::kFromLocalpart: return "from-localpart";
    case TargetKind::kBody: return "body";
    case TargetKind::kEmbedded: return "embedded";
    case TargetKind::kHeader: buf = "header:" + t.name; return buf;
    case TargetKind::kDsn: buf = "dsn:" + t.name; return buf;
  }
  return "?";
}

std::string_view bucket_name(Bucket b) {
  if (b == Bucket::kAuto) return "auto";
  if (b == Bucket::kFeedback) return "feedback";
  return kind_name(bucket_kind(b));
}

}  // namespace

std::string describe_signal(const Rules& rules, std::string_view signal) {
  char w[32];
  for (const auto& s : kStructural) {
    if (s.name != signal) continue;
    std::snprintf(w, sizeof w, "%+.2f", s.weight);
    return std::string(s.what) + " [structure, " + std::string(s.bucket) + " " + w + "]";
  }
  for (const Rule& r : rules.rules()) {
    if (r.name != signal) continue;
    std::string buf, kinds;
    for (Bucket b : r.buckets) kinds += (kinds.empty() ? "" : ",") + std::string(bucket_name(b));
    std::snprintf(w, sizeof w, "%+.2f", r.weight);
    return std::string(target_text(r.target, buf)) + " " + (r.exists ? "exists" : "/" + r.pattern + "/") +
           " [rule line " + std::to_string(r.line) + ", " + kinds + " " + w + std::string(flag_text(r.flags)) + "]";
  }
  return "unknown signal";
}

bool is_structural_signal(std::string_view name) noexcept {
  return std::any_of(std::begin(kStructural), std::end(kStructural),
                     [&](const Structural& s) { return s.name == name; });
}

Classifier::Classifier(std::shared_ptr<const Rules> rules) : rules_(std::move(rules)) {
  BACKSTOP_INVARIANT(rules_ != nullptr);
}
Classifier::~Classifier() = default;

Verdict Classifier::classify(const mail::Message& message, const mail::Envelope& envelope) const {
  Verdict v;
  Scores s;
  bool arf = false, delivery_report = false;
  structural(message, envelope, s, &arf, &delivery_report);
  std::vector<char> fired(rules_->rules().size(), 0);
  if (!run_rules(*rules_, message, fired)) {
    s.signals.push_back("matcher-error");
    v.scan_failed = true;
  }
  // auto_not[k]: auto evidence from rules that do not also count for kind k
  // (a rule must not corroborate itself).
  // ticket: a rule flagged `ticket` fired (the acknowledgement precedence).
  bool ticket = false;
  std::array<double, kBucketCount> auto_not{};
  auto_not.fill(s.v[static_cast<std::size_t>(Bucket::kAuto)]);
  for (const TargetDb& t : rules_->targets()) {
    // Weak rules of one target add at most kWeakCapPerTarget per kind: many
    // generic phrases in one text (a list thread about bounces) are still one
    // weak signal.
    std::array<double, kBucketCount> weak{};
    std::array<bool, kBucketCount> positive{};
    const Source source = source_of(t.target.kind);
    auto take = [&](std::size_t id) {
      if (!fired[id]) return;
      const Rule& r = rules_->rules()[id];
      bool is_auto = false;
      for (Bucket b : r.buckets) {
        const auto k = static_cast<std::size_t>(b);
        is_auto |= b == Bucket::kAuto;
        if (r.weight > 0) positive[k] = true;
        if (b != Bucket::kAuto && r.weight > 0 && r.weight < kStrongWeight) weak[k] += r.weight;
        else s.v[k] += r.weight;
      }
      if (is_auto) {
        for (std::size_t k = 0; k < kBucketCount; ++k) {
          if (std::find(r.buckets.begin(), r.buckets.end(), static_cast<Bucket>(k)) == r.buckets.end()) {
            auto_not[k] += r.weight;
          }
        }
      }
      ticket |= (r.flags & kFlagTicket) != 0;
      s.signals.push_back(r.name);
    };
    for (std::size_t id : t.exists_ids) take(id);
    for (std::size_t id : t.rule_ids) take(id);
    for (std::size_t k = 0; k < kBucketCount; ++k) {
      s.v[k] += std::min(weak[k], kWeakCapPerTarget);
      if (!positive[k]) continue;
      if (source == Source::kStructure) s.structure[k] = true;
      else ++s.phrase_targets[k];
    }
  }
  // Machine-origin evidence is structural evidence for the kinds it is
  // added to.
  const bool have_auto = s.v[static_cast<std::size_t>(Bucket::kAuto)] > 0;
  std::array<double, kBucketCount> total{};
  std::array<bool, kBucketCount> qualifies{};
  double best = 0, nearest = 0;
  Bucket best_bucket = Bucket::kAuto;
  for (Bucket b : kTieOrder) {
    const auto k = static_cast<std::size_t>(b);
    const double own = s.v[k];
    const double autoev = std::clamp(auto_not[k], 0.0, kAutoCap);
    total[k] = own > 0 ? own + autoev : own;
    const bool structure = s.structure[k] || (own > 0 && autoev > 0 && have_auto);
    nearest = std::max(nearest, total[k]);
    qualifies[k] = total[k] >= kThreshold &&
                   (structure || s.phrase_targets[k] >= static_cast<int>(kMinPhraseTargets));
    if (qualifies[k] && total[k] > best) {
      best = total[k];
      best_bucket = b;
    }
  }
  // Fixed precedence between kinds that both qualify (docs/rules.md): a
  // challenge with strong evidence of its own wins (a list's "confirm your
  // message", a challenge wrapped in a DSN); a ticket acknowledgement (a
  // rule flagged `ticket` fired) is an autoreply, not a bounce, unless the
  // message is a delivery report.
  auto q = [&](Bucket b) { return qualifies[static_cast<std::size_t>(b)]; };
  if (q(Bucket::kChallenge) && s.v[static_cast<std::size_t>(Bucket::kChallenge)] >= kThreshold) {
    best_bucket = Bucket::kChallenge;
    best = total[static_cast<std::size_t>(Bucket::kChallenge)];
  } else if (best_bucket == Bucket::kBounce && q(Bucket::kAutoreply) && ticket && !delivery_report) {
    best_bucket = Bucket::kAutoreply;
    best = total[static_cast<std::size_t>(Bucket::kAutoreply)];
  }
  v.signals = std::move(s.signals);
  v.refs = extract_references(message);
  v.feedback_report = arf || s.v[static_cast<std::size_t>(Bucket::kFeedback)] >= kThreshold;
  // A feedback report is never backscatter.
  if (v.feedback_report || best < kThreshold) {
    v.kind = Kind::kNone;
    // A score that reached the threshold without a second, independent
    // signal counts as just below it.
    v.confidence = 1.0 - std::min(nearest, kThreshold) / (2 * kThreshold);
    return v;
  }
  v.kind = bucket_kind(best_bucket);
  v.confidence = 1.0 - std::pow(0.5, best / kThreshold);
  return v;
}

}  // namespace backstop::classify
