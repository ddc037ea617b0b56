// backstop trap ingest PATH...: feeds mail that hit spamtraps (files, mbox,
// Maildir, MH, directories) into the DNSBL listings. Each message is
// classified; backscatter is recorded against the first Received hop outside
// relays.ours (and not loopback); plain spam is only counted.
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/common_options.h"
#include "classify/classifier.h"
#include "common/clock.h"
#include "daemon/state.h"
#include "dnsbl/evidence.h"
#include "dnsbl/listings.h"
#include "dnsbl/settings.h"
#include "dnsbl/trap.h"
#include "mail/envelope.h"
#include "mail/mailbox.h"
#include "store/store.h"

namespace backstop::app {
namespace {

struct TrapOptions {
  SharedOptions shared;
  std::vector<std::string> paths;
  std::string relays;  // extra CIDRs, comma-separated, added to relays.ours
  bool quiet = false;
};

int fail_with(const Error& e) {
  std::fprintf(stderr, "backstop trap: %s\n", e.message().c_str());
  return 2;
}

int run_ingest(const TrapOptions& o) {
  auto cfg = load_config(o.shared);
  if (!cfg) return fail_with(cfg.error());
  auto ours = dnsbl::relay_networks(*cfg);
  auto extra = dnsbl::parse_cidr_list(o.relays);
  if (!extra) return fail_with(extra.error());
  ours.insert(ours.end(), extra->begin(), extra->end());
  auto rules = classify::builtin_rules();
  if (!rules) return fail_with(rules.error());
  classify::Classifier classifier(*rules);
  auto s = daemon::open_main_store(*cfg);
  if (!s) return fail_with(s.error());
  dnsbl::Listings listings(**s, system_clock(), dnsbl::listing_policy(*cfg));
  for (const auto& cidr : cfg->get_list("trap.allow")) {
    auto n = listings.allow(cidr);
    if (!n) return fail_with(n.error());
  }
  const dnsbl::Redactor redactor(cfg->get_list("trap.addresses"), cfg->get_list("trap.domains"));
  dnsbl::TrapIngest trap(listings, **s, classifier, ours, {&redactor, cfg->get_int("trap.retention_days")});

  std::map<std::string, std::size_t> by_result;
  std::map<std::string, std::size_t> by_kind;
  std::size_t errors = 0;
  for (const auto& path : o.paths) {
    auto src = mail::open_source(path);
    if (!src) {
      std::fprintf(stderr, "backstop trap: %s: %s\n", path.c_str(), src.error().message().c_str());
      ++errors;
      continue;
    }
    while (auto next = (*src)->next()) {
      if (!*next) {
        std::fprintf(stderr, "backstop trap: %s#%zu: %s\n", next->error().location.c_str(), next->error().index,
                     next->error().error.message().c_str());
        ++errors;
        continue;
      }
      const auto& raw = **next;
      auto out = trap.ingest(raw.bytes, mail::envelope_from_mbox(raw.envelope_from));
      if (!out) {
        std::fprintf(stderr, "backstop trap: %s#%zu: %s\n", raw.location.c_str(), raw.index,
                     out.error().message().c_str());
        ++errors;
        continue;
      }
      const std::string kind(classify::kind_name(out->kind));
      const std::string result(dnsbl::trap_result_name(out->result));
      ++by_result[result];
      ++by_kind[kind];
      if (!o.quiet) {
        std::printf("%s#%zu %s %s %s\n", raw.location.c_str(), raw.index, kind.c_str(), result.c_str(),
                    out->ip.empty() ? "-" : out->ip.c_str());
      }
    }
  }
  std::printf("ingested:");
  for (const auto& [r, n] : by_result) std::printf(" %s=%zu", r.c_str(), n);
  std::printf(" errors=%zu; kinds:", errors);
  for (const auto& [k, n] : by_kind) std::printf(" %s=%zu", k.c_str(), n);
  std::printf("\n");
  return errors == 0 ? 0 : 1;
}

}  // namespace

void add_trap(CLI::App& root, int* exit_code) {
  auto o = std::make_shared<TrapOptions>();
  auto* cmd = root.add_subcommand("trap", "Spamtrap ingestion for the backscatter DNSBL");
  cmd->require_subcommand(1);
  auto* ingest = cmd->add_subcommand("ingest", "Classify trapped mail and record backscatter sources");
  ingest->add_option("paths", o->paths, "Files, mbox, Maildir, MH or directories")->required();
  ingest->add_option("--relays", o->relays, "Extra trusted relay networks (CIDR, comma-separated)");
  ingest->add_flag("--quiet", o->quiet, "Only print the summary");
  ingest->callback([o, exit_code] { *exit_code = run_ingest(*o); });
  add_shared_options(cmd, &o->shared);
}

}  // namespace backstop::app
