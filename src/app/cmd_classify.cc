// backstop classify [--explain] [--format text|json] [--rules FILE] FILE
// Classifies every message in FILE (one .eml, or each message of an mbox).
#include <cstdio>
#include <memory>
#include <string>

#include "app/commands.h"
#include "classify/classifier.h"
#include "classify/verdict_json.h"
#include "common/text.h"
#include "mail/envelope.h"
#include "mail/mailbox.h"
#include "mail/message.h"

namespace backstop::app {
namespace {

struct ClassifyOptions {
  std::string file;
  std::string rules;
  std::string format = "text";
  bool explain = false;
};

void print_list(const char* label, const std::vector<std::string>& v) {
  if (v.empty()) return;
  std::printf("  %-22s", label);
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%s", i ? ", " : "", v[i].c_str());
  std::printf("\n");
}

void print_field(const char* label, const std::string& v) {
  if (!v.empty()) std::printf("  %-22s%s\n", label, v.c_str());
}

void print_text(const mail::RawMessage& raw, const classify::Verdict& v,
                const classify::Classifier& c, bool explain) {
  std::printf("%s", raw.location.c_str());
  if (raw.index > 0) std::printf(" [message %zu]", raw.index);
  std::printf(": %s (confidence %.2f)%s\n", std::string(classify::kind_name(v.kind)).c_str(),
              v.confidence, v.feedback_report ? ", ARF feedback report" : "");
  if (!explain) {
    print_list("signals:", v.signals);
    return;
  }
  std::printf("signals:\n");
  for (const auto& s : v.signals) {
    std::printf("  %-30s %s\n", s.c_str(), classify::describe_signal(c.rules(), s).c_str());
  }
  const classify::References& r = v.refs;
  std::printf("references:\n");
  print_field("message-id:", r.message_id);
  print_list("in-reply-to:", r.in_reply_to);
  print_list("references:", r.references);
  print_field("subject:", r.subject);
  print_field("from:", r.from);
  print_list("to:", r.to);
  print_field("date:", r.date);
  print_field("original sender:", r.original_sender);
  print_field("original envelope id:", r.original_envelope_id);
  print_field("reporting MTA:", r.reporting_mta);
  print_field("arrival date:", r.arrival_date);
  print_field("response date:", r.response_date);
  for (const auto& d : r.recipients) {
    std::printf("  recipient:            %s", d.final_recipient.c_str());
    if (!d.original_recipient.empty() && d.original_recipient != d.final_recipient) {
      std::printf(" (original %s)", d.original_recipient.c_str());
    }
    std::printf(" action=%s status=%s\n", d.action.c_str(), d.status.c_str());
    print_field("  diagnostic:", d.diagnostic);
  }
  print_list("received IPs:", r.original_received_ips);
  print_list("received by:", r.original_received_hosts);
  for (const auto& h : r.original_hops) {
    std::printf("  received hop:         from %s (%s [%s]) by %s (%s) with %s id %s\n",
                h.from_helo.empty() ? "-" : h.from_helo.c_str(), h.from_rdns.empty() ? "-" : h.from_rdns.c_str(),
                h.from_ip.empty() ? "-" : h.from_ip.c_str(), h.by.empty() ? "-" : h.by.c_str(),
                h.by_comment.empty() ? "-" : h.by_comment.c_str(), h.with.empty() ? "-" : h.with.c_str(),
                h.id.empty() ? "-" : h.id.c_str());
  }
}

int run(const ClassifyOptions& o) {
  auto rules = o.rules.empty() ? classify::builtin_rules() : classify::load_rules_file(o.rules);
  if (!rules) {
    std::fprintf(stderr, "backstop: %s\n", rules.error().message().c_str());
    return 2;
  }
  const classify::Classifier classifier(*rules);
  auto source = mail::open_source(o.file);
  if (!source) {
    std::fprintf(stderr, "backstop: %s\n", source.error().message().c_str());
    return 2;
  }
  int status = 0;
  std::size_t count = 0;
  while (auto item = (*source)->next()) {
    if (!*item) {
      std::fprintf(stderr, "backstop: %s [%zu]: %s\n", item->error().location.c_str(),
                   item->error().index, item->error().error.message().c_str());
      status = 2;
      continue;
    }
    const mail::RawMessage& raw = **item;
    auto msg = mail::parse_message(raw.bytes);
    if (!msg) {
      std::fprintf(stderr, "backstop: %s [%zu]: %s\n", raw.location.c_str(), raw.index,
                   msg.error().message().c_str());
      status = 2;
      continue;
    }
    ++count;
    const auto v = classifier.classify(*msg, mail::envelope_from_mbox(raw.envelope_from));
    if (o.format == "json") {
      std::string line = "{\"file\":" + text::quote(raw.location) +
                         ",\"index\":" + std::to_string(raw.index) + "," +
                         classify::verdict_json(v).substr(1) + "\n";
      std::fputs(line.c_str(), stdout);
    } else {
      print_text(raw, v, classifier, o.explain);
    }
  }
  if (count == 0 && status == 0) {
    std::fprintf(stderr, "backstop: %s: no message found\n", o.file.c_str());
    status = 2;
  }
  return status;
}

}  // namespace

void add_classify(CLI::App& root, int* exit_code) {
  auto opts = std::make_shared<ClassifyOptions>();
  auto* cmd = root.add_subcommand("classify", "Classify one message (or each message of an mbox)");
  cmd->add_option("file", opts->file, "Message file (.eml) or mbox")->required();
  cmd->add_flag("--explain", opts->explain, "List every signal with its rule and every reference");
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--rules", opts->rules, "Rules file instead of the built-in rules");
  cmd->callback([opts, exit_code] { *exit_code = run(*opts); });
}

}  // namespace backstop::app
