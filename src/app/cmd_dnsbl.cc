// backstop dnsbl export|list|show|delist|allow|query|web: the trap
// operator's listing store and its rbldnsd export, a one-off lookup with our
// own DNSBL client (the same code the milter uses at MAIL), and the list's
// public web page on its own.
#include <asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/commands.h"
#include "app/common_options.h"
#include "common/clock.h"
#include "common/ip.h"
#include "common/text.h"
#include "daemon/dnsbl_web.h"
#include "daemon/state.h"
#include "dnsbl/cares_resolver.h"
#include "dnsbl/evidence.h"
#include "dnsbl/client.h"
#include "dnsbl/export.h"
#include "dnsbl/listings.h"
#include "dnsbl/settings.h"
#include "store/store.h"

namespace backstop::app {
namespace {

struct DnsblOptions {
  SharedOptions shared;
  // export
  std::string zone;
  std::string out;
  int watch = 0;
  std::string url;
  std::string ns;
  std::string txt;
  unsigned ttl = dnsbl::kDefaultZoneTtl;
  // list/show/delist/allow
  bool all = false;
  std::string ip;
  std::string reason;
  std::string cidr;
  // web
  std::string listen;
  // query
  std::vector<std::string> zones;
  std::string resolver;
  int timeout_ms = 0;
};

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

int fail_with(const Error& e) {
  std::fprintf(stderr, "backstop dnsbl: %s\n", e.message().c_str());
  return e.code() == Code::kNotFound ? 1 : 2;
}

// The store and listing rules named by the configuration; trap.allow
// networks are (re)applied on every open, so they are never listed.
struct Opened {
  config::Config cfg;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<dnsbl::Listings> listings;
};

Result<Opened> open_state(const DnsblOptions& o) {
  auto cfg = load_config(o.shared);
  if (!cfg) return unexpected<Error>(cfg.error());
  Opened out{std::move(*cfg), nullptr, nullptr};
  auto s = daemon::open_main_store(out.cfg);
  if (!s) return unexpected<Error>(s.error());
  out.store = std::move(*s);
  out.listings = std::make_unique<dnsbl::Listings>(*out.store, system_clock(), dnsbl::listing_policy(out.cfg));
  auto current = out.store->allowlist();
  if (!current) return unexpected<Error>(current.error());
  for (const auto& cidr : out.cfg.get_list("trap.allow")) {
    auto net = ip::parse_network(cidr);
    if (!net) return fail(Code::kInvalidArgument, "trap.allow: " + net.error().message());
    bool present = false;
    for (const auto& have : *current) present = present || have == ip::to_string(*net);
    if (present) continue;
    auto n = out.listings->allow(cidr);
    if (!n) return unexpected<Error>(n.error());
  }
  return out;
}

void print_listing(const store::Listing& l, const dnsbl::ListingPolicy& p, std::int64_t now, bool verbose) {
  std::string kinds;
  for (const auto& [k, n] : l.hits) kinds += (kinds.empty() ? "" : ",") + k + "=" + std::to_string(n);
  const auto state = dnsbl::listing_state(l, p, now);
  std::printf("%-39s %-15s hits=%llu %s first=%s last=%s expires=%s\n", l.ip.c_str(),
              std::string(dnsbl::state_name(state)).c_str(), static_cast<unsigned long long>(l.total_hits()),
              kinds.c_str(), text::iso_time(l.first_seen).c_str(), text::iso_time(l.last_seen).c_str(),
              text::iso_time(dnsbl::expires_at(l, p)).c_str());
  if (verbose) {
    std::printf("  last evidence: kind=%s message-id=<%s> time=%s\n", l.last_evidence.kind.c_str(),
                l.last_evidence.message_id.c_str(), text::iso_time(l.last_evidence.time).c_str());
    if (l.self_delists > 0) {
      std::printf("  self-service delistings: %u (listing length %lld days)\n", l.self_delists,
                  static_cast<long long>(p.expire_days * dnsbl::escalation_factor(l)));
    }
  }
}

int run_export(const DnsblOptions& o) {
  auto st = open_state(o);
  if (!st) return fail_with(st.error());
  dnsbl::ExportOptions eo;
  eo.zone = o.zone;
  eo.out_dir = o.out;
  eo.url = o.url;
  eo.ns = o.ns;
  eo.ttl = o.ttl;
  eo.policy = st->listings->policy();
  if (!o.txt.empty()) eo.txt_template = o.txt;
  if (o.watch > 0) {
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
  }
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    auto active = st->listings->active();
    if (!active) return fail_with(active.error());
    auto stats = dnsbl::export_zone(*active, eo, system_clock().now_unix());
    if (!stats) return fail_with(stats.error());
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::printf("exported %zu IPv4 and %zu IPv6 listings (%zu skipped) to %s and %s in %lld ms\n",
                stats->ipv4, stats->ipv6, stats->skipped, stats->ip4_path.c_str(), stats->ip6_path.c_str(),
                static_cast<long long>(ms.count()));
    std::fflush(stdout);
    if (o.watch <= 0) return 0;
    for (int i = 0; i < o.watch * 10 && !g_stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (g_stop) return 0;
  }
}

int run_list(const DnsblOptions& o) {
  auto st = open_state(o);
  if (!st) return fail_with(st.error());
  auto ls = o.all ? st->listings->all() : st->listings->active();
  if (!ls) return fail_with(ls.error());
  const auto now = system_clock().now_unix();
  for (const auto& l : *ls) print_listing(l, st->listings->policy(), now, false);
  return 0;
}

int run_show(const DnsblOptions& o) {
  auto st = open_state(o);
  if (!st) return fail_with(st.error());
  auto l = st->listings->get(o.ip);
  if (!l) return fail_with(l.error());
  if (!*l) {
    std::printf("%s: not listed, no hits recorded\n", o.ip.c_str());
    return 1;
  }
  print_listing(**l, st->listings->policy(), system_clock().now_unix(), true);
  auto ev = dnsbl::load_evidence(*st->store, (*l)->ip);
  if (!ev) return fail_with(ev.error());
  for (const auto& e : *ev) {
    std::printf("  evidence %s %s%s:\n", text::iso_time(e.time).c_str(), e.kind.c_str(),
                e.truncated ? " (truncated)" : "");
    std::string_view rest = e.headers;
    while (!rest.empty()) {
      const auto nl = rest.find('\n');
      std::printf("    %s\n", text::log_safe(rest.substr(0, nl)).c_str());
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
  }
  return 0;
}

std::atomic<bool> g_web_stop{false};
extern "C" void on_web_signal(int) { g_web_stop = true; }

int run_web(const DnsblOptions& o) {
  auto st = open_state(o);
  if (!st) return fail_with(st.error());
  if (!o.listen.empty()) {
    if (auto s = st->cfg.override("dnsbl.web.listen", text::quote(o.listen)); !s) return fail_with(s.error());
  }
  if (st->cfg.get_string("dnsbl.web.listen").empty()) {
    return fail_with(Error(Code::kInvalidArgument, "dnsbl.web.listen is empty: set it or give --listen"));
  }
  std::signal(SIGINT, on_web_signal);
  std::signal(SIGTERM, on_web_signal);
  auto web = daemon::DnsblWeb::start(st->cfg, *st->store, system_clock(), nullptr, nullptr, [](std::string_view line) {
    std::fprintf(stderr, "backstop: %s\n", text::log_safe(line).c_str());
  });
  if (!web) return fail_with(web.error());
  std::printf("serving the DNSBL web page on %s\n", (*web)->endpoint().c_str());
  std::fflush(stdout);
  while (!g_web_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*web)->stop();
  return 0;
}

int run_delist(const DnsblOptions& o) {
  auto st = open_state(o);
  if (!st) return fail_with(st.error());
  auto d = st->listings->delist(o.ip, o.reason.empty() ? "delisted by request" : o.reason);
  if (!d) return fail_with(d.error());
  if (!*d) {
    std::printf("%s: no listing\n", o.ip.c_str());
    return 1;
  }
  std::printf("%s: delisted (takes effect at the next export)\n", o.ip.c_str());
  return 0;
}

int run_allow(const DnsblOptions& o) {
  auto st = open_state(o);
  if (!st) return fail_with(st.error());
  auto n = st->listings->allow(o.cidr);
  if (!n) return fail_with(n.error());
  std::printf("%s: allowlisted, %zu listing(s) delisted\n", o.cidr.c_str(), *n);
  return 0;
}

int run_query(const DnsblOptions& o) {
  auto cfg = load_config(o.shared);
  if (!cfg) return fail_with(cfg.error());
  auto settings = dnsbl::dnsbl_settings(*cfg);
  if (!settings) return fail_with(settings.error());
  if (!o.resolver.empty()) {
    if (auto r = dnsbl::parse_resolver(o.resolver, &settings->resolver); !r) return fail_with(r.error());
  }
  if (o.timeout_ms > 0) settings->resolver.timeout = std::chrono::milliseconds(o.timeout_ms);
  if (!o.zones.empty()) {
    settings->client.zones.clear();
    for (const auto& z : o.zones) {
      dnsbl::ZoneConfig zc;
      zc.name = z;
      settings->client.zones.push_back(zc);
    }
  }
  if (settings->client.zones.empty()) {
    return fail_with(Error(Code::kInvalidArgument, "no zone: give --zone or configure dnsbl.zones"));
  }
  asio::io_context io;
  auto resolver = dnsbl::make_cares_resolver(io.get_executor(), settings->resolver);
  if (!resolver) return fail_with(resolver.error());
  auto client = dnsbl::Client::create(io.get_executor(), **resolver, system_clock(), settings->client);
  if (!client) return fail_with(client.error());
  std::optional<dnsbl::CheckResult> out;
  (*client)->lookup(o.ip, [&](dnsbl::CheckResult r) { out = std::move(r); });
  io.run();
  if (!out) return fail_with(Error(Code::kInternal, "lookup did not complete"));
  for (const auto& z : out->zones) {
    std::string codes;
    for (const auto& c : z.codes) codes += (codes.empty() ? "" : ",") + c;
    std::printf("%s %s %s", out->ip.c_str(), z.zone.c_str(), std::string(dnsbl::status_name(z.status)).c_str());
    if (z.status == dnsbl::LookupStatus::kListed) std::printf(" %s \"%s\"", codes.c_str(), z.txt.c_str());
    if (z.status == dnsbl::LookupStatus::kError) {
      std::printf(" %s (%s)", std::string(dnsbl::error_name(z.error)).c_str(), z.detail.c_str());
    }
    std::printf("\n");
  }
  auto d = dnsbl::decide(*out);
  if (d.verdict == dnsbl::SmtpDecision::Verdict::kReject) std::printf("smtp: %s\n", d.reply().c_str());
  if (d.verdict == dnsbl::SmtpDecision::Verdict::kTag) {
    std::printf("smtp: header %s: %s\n", d.header_name.c_str(), d.header_value.c_str());
  }
  return out->listed() ? 0 : 1;
}

}  // namespace

void add_dnsbl(CLI::App& root, int* exit_code) {
  auto o = std::make_shared<DnsblOptions>();
  auto* cmd = root.add_subcommand("dnsbl", "Trap DNSBL: listings, rbldnsd export, lookups");
  cmd->require_subcommand(1);
  auto* ex = cmd->add_subcommand("export", "Write the active listings as rbldnsd ip4set/ip6trie files");
  ex->add_option("--zone", o->zone, "DNS zone served, e.g. bl.example.org")->required();
  ex->add_option("--out", o->out, "Output directory (files <zone>.ip4set and <zone>.ip6trie)")->required();
  ex->add_option("--watch", o->watch, "Re-export every SECONDS until SIGTERM/SIGINT");
  ex->add_option("--url", o->url, "Lookup/delisting URL put in the TXT ({url})");
  ex->add_option("--ns", o->ns, "Name server for $SOA/$NS lines (none if empty)");
  ex->add_option("--txt", o->txt, "TXT template: {ip} {zone} {kinds} {hits} {first} {last} {expires} {url}");
  ex->add_option("--ttl", o->ttl, "DNS TTL of the answers")->capture_default_str();
  ex->callback([o, exit_code] { *exit_code = run_export(*o); });

  auto* list = cmd->add_subcommand("list", "List active listings (--all: every IP with hits)");
  list->add_flag("--all", o->all, "Include expired, delisted and below-threshold entries");
  list->callback([o, exit_code] { *exit_code = run_list(*o); });

  auto* show = cmd->add_subcommand("show", "Show one IP's listing and last evidence (exit 1 if none)");
  show->add_option("ip", o->ip, "IPv4 or IPv6 address")->required();
  show->callback([o, exit_code] { *exit_code = run_show(*o); });

  auto* delist = cmd->add_subcommand("delist", "Delist an IP now (free; logged)");
  delist->add_option("ip", o->ip, "IPv4 or IPv6 address")->required();
  delist->add_option("--reason", o->reason, "Why (logged)");
  delist->callback([o, exit_code] { *exit_code = run_delist(*o); });

  auto* allow = cmd->add_subcommand("allow", "Never list a network (CIDR); delists what it covers");
  allow->add_option("cidr", o->cidr, "e.g. 192.0.2.0/24 or 2001:db8::/32")->required();
  allow->callback([o, exit_code] { *exit_code = run_allow(*o); });

  auto* web = cmd->add_subcommand("web", "Serve the list's web page: policy, lookups, evidence, self-service delisting");
  web->add_option("--listen", o->listen, "HOST:PORT (default: dnsbl.web.listen)");
  web->callback([o, exit_code] { *exit_code = run_web(*o); });

  auto* query = cmd->add_subcommand("query", "Look an IP up with backstop's DNSBL client (exit 0 if listed)");
  query->add_option("ip", o->ip, "IPv4 or IPv6 address")->required();
  query->add_option("--zone", o->zones, "Zone to query (repeatable; default: dnsbl.zones)")
      ->allow_extra_args(false);
  query->add_option("--resolver", o->resolver, "HOST[:PORT] or [V6]:PORT (default: dnsbl.resolver)");
  query->add_option("--timeout-ms", o->timeout_ms, "Per-query timeout (default: dnsbl.timeout_ms)");
  query->callback([o, exit_code] { *exit_code = run_query(*o); });
  add_shared_options(cmd, &o->shared);
}

}  // namespace backstop::app
