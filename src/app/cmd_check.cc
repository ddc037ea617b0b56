// backstop check FILE...: classify -> correlate -> policy on a stored message,
// printing the decision with every piece of evidence, one block per file.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/commands.h"
#include "app/common_options.h"
#include "daemon/engine.h"
#include "daemon/judge.h"
#include "mail/envelope.h"
#include "mail/mailbox.h"

namespace backstop::app {
namespace {

struct CheckOptions {
  std::vector<std::string> files;
  SharedOptions shared;
  std::string envelope_from;
  std::vector<std::string> rcpts;
  std::string client_ip;
  bool envelope_null = false;
};

// The bytes of one message file. kNotFound, kTooLarge or kEnvironment.
Result<std::string> read_message(const std::string& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) return unexpected<Error>(Error(Code::kNotFound, "cannot read " + file + ": " + ec.message()));
  if (size > mail::kMaxMessageBytes) {
    return unexpected<Error>(Error(Code::kTooLarge, file + " is larger than any message backstop judges (" +
                                                         std::to_string(mail::kMaxMessageBytes >> 20) + " MiB)"));
  }
  std::ifstream in(file, std::ios::binary);
  std::string raw(size, '\0');
  if (!in.read(raw.data(), static_cast<std::streamsize>(size))) {
    return unexpected<Error>(Error(Code::kEnvironment, "cannot read " + file));
  }
  return raw;
}

// Prints the block of one message, starting with its "file:" line. Returns
// 0, or 1 when judging failed (the block then shows the failure decision).
int print_check(const daemon::Snapshot& snap, const std::string& file, const std::string& raw,
                const mail::Envelope& env) {
  std::printf("file:     %s\n", file.c_str());
  auto j = snap.judge->judge(raw, env);
  if (!j) {
    auto d = policy::internal_failure(j.error().message(), snap.fail_open);
    std::printf("decision: %s %s\nreason:   %s\n", std::string(policy::action_name(d.action)).c_str(),
                d.reply.line().c_str(), d.reason.c_str());
    return 1;
  }
  const auto& v = j->verdict;
  std::printf("envelope: from=<%s> to=", env.mail_from.c_str());
  for (std::size_t i = 0; i < env.rcpts.size(); ++i) std::printf("%s<%s>", i ? "," : "", env.rcpts[i].c_str());
  std::printf(" client=%s\n", env.client_ip.empty() ? "-" : env.client_ip.c_str());
  std::printf("kind:     %s (confidence %.2f)%s\n", std::string(classify::kind_name(v.kind)).c_str(),
              v.confidence, v.feedback_report ? " [feedback report]" : "");
  std::printf("signals: ");
  for (const auto& s : v.signals) std::printf(" %s", s.c_str());
  std::printf("\n");
  if (!v.refs.message_id.empty()) std::printf("original: message-id <%s>\n", v.refs.message_id.c_str());
  for (const auto& id : v.refs.in_reply_to) std::printf("in-reply-to: <%s>\n", id.c_str());
  for (const auto& r : v.refs.recipients) {
    std::printf("dsn:      %s %s %s\n", r.final_recipient.c_str(), r.action.c_str(), r.status.c_str());
  }
  std::printf("verdict:  %s\n", std::string(correlate::verdict_name(j->outcome.verdict)).c_str());
  for (const auto& e : j->outcome.evidence) {
    std::printf("evidence: [%s -> %s] %s\n", e.source.c_str(),
                std::string(correlate::verdict_name(e.points_to)).c_str(), e.detail.c_str());
  }
  const auto& d = j->decision;
  std::printf("decision: %s", std::string(policy::action_name(d.action)).c_str());
  if (!d.reply.code.empty()) std::printf(" \"%s\"", d.reply.line().c_str());
  if (!d.header_name.empty()) std::printf(" header \"%s: %s\"", d.header_name.c_str(), d.header_value.c_str());
  std::printf("\n");
  for (auto c : j->conditions) std::printf("note:     parse limit: %s\n", mail::condition_name(c));
  return 0;
}

// Exit status: 2 when the configuration or state is unusable (nothing is
// judged) or any file cannot be read (the others are still judged); else 1
// when judging any message failed; else 0.
int run_check(const CheckOptions& o) {
  auto cfg = load_config(o.shared);
  if (!cfg) return report_error(cfg.error());
  daemon::EngineOptions eo;
  eo.create_keys = false;
  // Without a state directory there is no ledger: judge against an empty
  // one. Redis state is always there to open.
  eo.memory_store = cfg->get_string("state.backend") == "lmdb" && !state_exists(*cfg);
  auto engine = daemon::Engine::create(*cfg, std::move(eo));
  if (!engine) return report_error(engine.error());

  mail::Envelope env;
  env.known = true;  // the null sender unless --envelope-from says otherwise
  env.mail_from = o.envelope_from;
  env.rcpts = o.rcpts;
  env.client_ip = o.client_ip;
  auto snap = (*engine)->snapshot();
  int status = 0;
  bool printed = false;
  for (const auto& file : o.files) {
    auto raw = read_message(file);
    if (!raw) {
      status = std::max(status, report_error(raw.error()));
      continue;
    }
    if (printed) std::printf("\n");  // blocks are separated by an empty line
    printed = true;
    status = std::max(status, print_check(*snap, file, *raw, env));
  }
  return status;
}

}  // namespace

void add_check(CLI::App& root, int* exit_code) {
  auto o = std::make_shared<CheckOptions>();
  auto* cmd = root.add_subcommand(
      "check", "Show what serve would decide for stored messages, with every piece of evidence");
  cmd->add_option("files", o->files, "Message files (.eml), one message each")->required();
  add_shared_options(cmd, &o->shared, {.state = "State directory (ledger, keys); overrides state.dir"});
  cmd->add_option("--envelope-from", o->envelope_from, "Envelope sender (default: the null sender)");
  cmd->add_option("--rcpt", o->rcpts, "Envelope recipient (repeatable)")->allow_extra_args(false);
  cmd->add_option("--client-ip", o->client_ip, "Connecting client IP");
  cmd->callback([o, exit_code] { *exit_code = run_check(*o); });
}

}  // namespace backstop::app
