// backstop ledger add|show|import: inspect the outbound ledger and seed it
// from Postfix logs when switching backstop on.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/common_options.h"
#include "common/clock.h"
#include "common/text.h"
#include "daemon/state.h"
#include "store/batch_writer.h"
#include "store/postfix_log.h"
#include "store/store.h"

namespace backstop::app {
namespace {

// `ledger show` without an id prints this many recent entries.
constexpr std::size_t kDefaultShowLimit = 20;

struct LedgerOptions {
  SharedOptions shared;
  std::string message_id;
  std::string sender;
  std::vector<std::string> recipients;
  long long time = -1;
  std::size_t limit = kDefaultShowLimit;
  std::vector<std::string> files;
  bool all = false;
  bool dry_run = false;
};

int report(const Error& e) {
  std::fprintf(stderr, "backstop ledger: %s\n", e.message().c_str());
  return e.code() == Code::kInvalidArgument || e.code() == Code::kEnvironment ||
                 e.code() == Code::kPermission
             ? 2
             : 1;
}

void print_entry(const std::string& id, const store::LedgerEntry& e) {
  std::printf("<%s> %s from=<%s> to=", id.c_str(), text::iso_time(e.time).c_str(), e.sender.c_str());
  for (std::size_t i = 0; i < e.recipients.size(); ++i) {
    std::printf("%s<%s>", i ? "," : "", e.recipients[i].c_str());
  }
  if (!e.envid.empty()) std::printf(" envid=%s", text::log_safe(e.envid).c_str());
  std::printf("\n");
}

// The store state.backend names: LMDB in --state, else in the
// configuration's state.dir; or Redis. A configuration that cannot be loaded
// is a usage error.
Result<std::unique_ptr<store::Store>> open(const LedgerOptions& o) {
  auto cfg = load_config(o.shared);
  if (!cfg) return unexpected<Error>(Error(Code::kInvalidArgument, cfg.error().message()));
  return daemon::open_main_store(*cfg);
}

int run_add(const LedgerOptions& o) {
  auto s = open(o);
  if (!s) return report(s.error());
  store::LedgerEntry e{o.time >= 0 ? o.time : system_clock().now_unix(), o.sender, o.recipients};
  const std::string id(text::strip_brackets(o.message_id));  // "<id>" and "id" name one entry
  if (auto r = (*s)->ledger_put(id, e); !r) return report(r.error());
  print_entry(id, e);
  return 0;
}

int run_show(const LedgerOptions& o) {
  auto s = open(o);
  if (!s) return report(s.error());
  if (!o.message_id.empty()) {
    const std::string id(text::strip_brackets(o.message_id));  // "<id>" and "id" name one entry
    auto e = (*s)->ledger_get(id);
    if (!e) return report(e.error());
    if (!e->has_value()) {
      std::printf("<%s> not in the ledger\n", id.c_str());
      return 1;
    }
    print_entry(id, **e);
    return 0;
  }
  auto first = (*s)->ledger_first_time();
  if (!first) return report(first.error());
  if (first->has_value()) std::printf("# ledger recording since %s\n", text::iso_time(**first).c_str());
  auto recent = (*s)->ledger_recent(o.limit);
  if (!recent) return report(recent.error());
  for (const auto& item : *recent) print_entry(item.message_id, item.entry);
  return 0;
}

// Reads `f` line by line with a bounded buffer: longer lines are skipped.
void feed_file(std::FILE* f, store::postfix_log::Correlator& c, std::vector<store::postfix_log::ImportedMessage>* out) {
  std::vector<char> buf(store::postfix_log::kMaxLineBytes + 2);
  bool skipping = false;
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), f)) {
    std::string_view line(buf.data(), std::strlen(buf.data()));
    const bool complete = !line.empty() && line.back() == '\n';
    if (!complete && !std::feof(f)) {  // the rest of an over-long line follows
      skipping = true;
      continue;
    }
    if (skipping) {
      skipping = false;
      continue;
    }
    if (complete) line.remove_suffix(1);
    c.feed(line, out);
  }
}

int run_import(const LedgerOptions& o) {
  auto s = open(o);
  if (!s) return report(s.error());
  store::postfix_log::Correlator correlator(system_clock().now_unix());
  std::vector<store::postfix_log::ImportedMessage> messages;
  for (const auto& path : o.files) {
    std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "r");
    if (!f) {
      std::fprintf(stderr, "backstop ledger: cannot open %s: %s\n", path.c_str(), std::strerror(errno));
      return 2;
    }
    feed_file(f, correlator, &messages);
    if (f != stdin) std::fclose(f);
  }
  correlator.finish(&messages);
  std::size_t imported = 0, local = 0, refused = 0;
  {
    store::BatchWriter writer(**s);
    for (auto& m : messages) {
      if (!m.relayed && !o.all) {
        ++local;
        continue;
      }
      if (o.dry_run) {
        print_entry(m.message_id, m.entry);
        ++imported;
        continue;
      }
      if (writer.enqueue(store::LedgerPut{m.message_id, m.entry})) {
        ++imported;
      } else {
        ++refused;
      }
    }
    if (auto r = writer.flush(); !r) return report(r.error());
  }
  std::printf("%s %zu message(s); skipped %zu delivered only locally%s, %zu refused\n",
              o.dry_run ? "would import" : "imported", imported, local,
              o.all ? "" : " (use --all to include them)", refused);
  return refused ? 1 : 0;
}

}  // namespace

void add_ledger(CLI::App& root, int* exit_code) {
  auto o = std::make_shared<LedgerOptions>();
  auto* cmd = root.add_subcommand("ledger", "Inspect the outbound ledger or seed it from Postfix logs");
  cmd->require_subcommand(1);

  auto* add = cmd->add_subcommand("add", "Record an outbound Message-ID");
  add->add_option("message-id", o->message_id, "Message-ID, with or without <>")->required();
  add->add_option("--from", o->sender, "Envelope sender (empty: null sender)");
  add->add_option("--to", o->recipients, "Envelope recipient (repeatable)")->allow_extra_args(false);
  add->add_option("--time", o->time, "Unix time it was sent (default: now)");
  add->callback([o, exit_code] { *exit_code = run_add(*o); });

  auto* show = cmd->add_subcommand("show", "Show one Message-ID (exit 1 if absent), or the newest entries");
  show->add_option("message-id", o->message_id, "Message-ID, with or without <>");
  show->add_option("--limit", o->limit, "Entries shown without an id")->capture_default_str();
  show->callback([o, exit_code] { *exit_code = run_show(*o); });

  auto* import = cmd->add_subcommand(
      "import", "Import messages from Postfix logs (cleanup message-id=, qmgr from=, smtp to= lines)");
  import->add_option("files", o->files, "Log files ('-' = stdin)")->required();
  import->add_flag("--all", o->all, "Also import messages only delivered locally (not relayed by smtp)");
  import->add_flag("--dry-run", o->dry_run, "Print what would be imported; write nothing");
  import->callback([o, exit_code] { *exit_code = run_import(*o); });
  add_shared_options(cmd, &o->shared, {.state = "State directory (LMDB); overrides state.dir"});
}

}  // namespace backstop::app
