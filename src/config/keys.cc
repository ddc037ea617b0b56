// The configuration key table: the single source of every key, its type,
// default and documentation (docs/configuration.md is generated from it).
#include "config/config.h"

namespace backstop::config {
namespace {

constexpr KeyDef kKeys[] = {
    // --- the process ---
    {"daemon.run_as", Type::kString, R"("")",
     "The user `backstop serve` runs as: `USER`, or `USER:GROUP` for another primary group (the "
     "user's supplementary groups apply either way). Started as root, serve reads this file, "
     "opens the log, binds every listener (ports below 1024 too), makes this user the owner of "
     "`state.dir`, of the stores in it, of the BATV key file when it lies there and of `unix:` "
     "socket files, then drops root for good before it starts a thread or opens the store. "
     "Started as root with this empty (or naming root), serve refuses to start (exit 2). Started "
     "as any other user (the shipped systemd unit's `User=backstop`), it must be empty or name "
     "that user. The user must be able to read this file, the rules file and a BATV key file "
     "outside `state.dir`, or a reload (SIGHUP) is refused. Takes effect on restart.",
     {}, 0, INT64_MAX, {}, Syntax::kRunAs},
    // --- listeners ---
    {"milter.listen", Type::kString, R"("inet:127.0.0.1:8895")",
     "Where the milter listens: `inet:HOST:PORT` (IPv6 as `inet:[::1]:8895`) or "
     "`unix:/path/to/socket`. Postfix: `smtpd_milters = inet:127.0.0.1:8895`. Empty disables the milter.",
     {}, 0, INT64_MAX, {}, Syntax::kListen},
    {"milter.socket_mode", Type::kString, R"("0660")",
     "File mode of a `unix:` milter socket (octal), so the MTA's group can connect.",
     {}, 0, INT64_MAX, {}, Syntax::kFileMode},
    {"milter.threads", Type::kInt, "0",
     "Event-loop threads for the milter and policy service; 0 means one per core.", {}, 0, 256},
    {"milter.on_error", Type::kString, R"("tempfail")",
     "What the milter answers when backstop itself fails on a message (store down, internal "
     "error, limit hit): `tempfail` (451 4.3.0, the MTA retries; nothing is lost) or `accept` "
     "(fail open). Never a 5xx.",
     "tempfail|accept"},
    {"milter.allow_clients", Type::kStringList, "[]",
     "Client networks (CIDR, or bare addresses) allowed to connect to an `inet:` milter "
     "listener; anyone else is closed at accept and counted. Empty allows any client: set it "
     "whenever the milter listens on a non-loopback address.",
     {}, 0, INT64_MAX, {}, Syntax::kNetwork},
    {"milter.allow_users", Type::kStringList, "[]",
     "Users (names or numeric uids) allowed to connect to a `unix:` milter socket besides "
     "root, checked with SO_PEERCRED; anyone else is closed at accept. Empty allows every "
     "user the socket's mode lets in. Debian's Postfix: `[\"postfix\"]`."},
    {"policy.listen", Type::kString, R"("inet:127.0.0.1:8896")",
     "Where the Postfix policy delegation service listens (`check_policy_service "
     "inet:127.0.0.1:8896`; Exim: `${readsocket}`). Empty disables it.",
     {}, 0, INT64_MAX, {}, Syntax::kListen},
    {"policy.allow_clients", Type::kStringList, "[]",
     "As `milter.allow_clients`, for an `inet:` policy service listener.",
     {}, 0, INT64_MAX, {}, Syntax::kNetwork},
    {"policy.allow_users", Type::kStringList, "[]",
     "As `milter.allow_users`, for a `unix:` policy service socket."},
    {"metrics.listen", Type::kString, R"("127.0.0.1:9895")",
     "HOST:PORT of the HTTP endpoint serving Prometheus `/metrics` and `/healthz`. Empty disables it.",
     {}, 0, INT64_MAX, {}, Syntax::kHostPort},
    {"metrics.allow_clients", Type::kStringList, "[]",
     "Client networks (CIDR) allowed to scrape `/metrics` and `/healthz`; empty allows any.",
     {}, 0, INT64_MAX, {}, Syntax::kNetwork},
    // --- state ---
    {"state.dir", Type::kString, R"("./var/backstop")",
     "State directory: the LMDB environment (ledger, correspondents, counters, listings) and, "
     "by default, the BATV key file. Installed packages use `/var/lib/backstop`."},
    {"state.backend", Type::kString, R"("lmdb")",
     "Store backend: `lmdb` (embedded in `state.dir`, one host; the default), `redis` (one state "
     "shared by several hosts, on the Redis the `redis.*` keys name; docs/store.md) or `memory` "
     "(tests; nothing survives a restart). Every command that opens the state (`serve`, `check`, "
     "`ledger`, `dnsbl`, `trap`, `store`) follows it. With `redis`, the outbound counters and the inbound "
     "facts live under their own prefixes (`<redis.prefix>counters:`, `<redis.prefix>facts:`), "
     "and `state.dir` still holds the default BATV key file, which every host needs the same copy of.",
     "lmdb|memory|redis"},
    {"state.map_size_mb", Type::kInt, "1024",
     "Maximum size in MiB of each LMDB environment (the state, and beside it the soft-state "
     "counters and inbound facts, each bounded on its own). The map starts at 256 MiB (sparse: disk is used as data grows) and doubles "
     "up to this; a store that reaches it fails its writes (outbound mail is deferred 4xx, "
     "`/healthz` answers 503) rather than filling the disk.", {}, 16, 1 << 20},
    // --- Redis (state.backend = "redis") ---
    {"redis.servers", Type::kStringList, R"(["127.0.0.1:6379"])",
     "Redis servers, tried in order until one answers as a master: `HOST:PORT` or `[IPv6]:PORT` "
     "(HOST an IP address or `localhost`: names would be resolved without a timeout) or an "
     "absolute unix socket path (`/run/redis/redis-server.sock`). Not used when "
     "`redis.sentinel_master` is set. Redis 6.2 or later, standalone or under Sentinel (not Redis "
     "Cluster); run it with `appendonly yes` (docs/store.md).",
     {}, 0, INT64_MAX, {}, Syntax::kServerAddress},
    {"redis.soft_servers", Type::kStringList, "[]",
     "Redis servers for the soft state (the outbound limit counters and the inbound facts of the "
     "autoreply gate), in `redis.servers`' syntax, when it should not share the state's Redis: a "
     "second redis-server with `appendfsync everysec` spares the state's Redis an fsync for every "
     "limit check and fact, and spares the reads of bounces the wait behind it (docs/cluster.md). "
     "Used with Sentinel too (the soft state is then not failed over). Empty: the soft state "
     "lives on the state's Redis. Same AUTH, database, prefix and timeout.",
     {}, 0, INT64_MAX, {}, Syntax::kServerAddress},
    {"redis.sentinel_master", Type::kString, R"("")",
     "Name of the master Redis Sentinel monitors. When set, `redis.sentinels` are asked for its "
     "address (again after any connection failure and any READONLY or MASTERDOWN reply) and "
     "`redis.servers` is not used."},
    {"redis.sentinels", Type::kStringList, "[]",
     "Sentinels (`HOST:PORT`), asked in order for `redis.sentinel_master`.",
     {}, 0, INT64_MAX, {}, Syntax::kPeerAddress},
    {"redis.password", Type::kString, R"("")",
     "Password for Redis AUTH; empty: no AUTH. A configuration file holding it must be readable "
     "only by root and backstop's group (mode 0640). `config dump` does not print it.",
     {}, 0, INT64_MAX, {}, Syntax::kAny, true},
    {"redis.user", Type::kString, R"("")",
     "ACL user for AUTH (Redis 6 or later); empty: the password alone (the default user)."},
    {"redis.db", Type::kInt, "0", "Redis database number (SELECT).", {}, 0, INT32_MAX},
    {"redis.prefix", Type::kString, R"("backstop:")",
     "Prefix of every key backstop writes (1 to 64 printable characters, no spaces): several "
     "installations can share one database under different prefixes. A prefix holding data of "
     "another layout version is refused at start.",
     {}, 0, INT64_MAX, {}, Syntax::kKeyPrefix},
    {"redis.timeout_ms", Type::kInt, "1000",
     "Timeout of a connection attempt and of each network wait of a command. A Redis that does "
     "not answer in time fails the call (mail is deferred with a 4xx, `/healthz` answers 503) "
     "instead of holding the message; after a failure, connections are retried after 50 ms, "
     "doubling to 2 s.",
     {}, 10, 60000},
    // --- domains, relays ---
    {"domains.local", Type::kStringList, "[]",
     "Our domains: mail to them is inbound, and their senders are signed with BATV. "
     "Subdomains are not included unless listed (`.example.org` matches every subdomain)."},
    {"relays.ours", Type::kStringList, "[]",
     "Our relays: host names (exact, or `.suffix`) and IP networks (CIDR). A returned original "
     "whose Received chain consistently passes through one of them was sent by us (like "
     "SpamAssassin's `whitelist_bounce_relays`, with the chain rule of docs/correlation.md: the "
     "topmost hop that records a receipt names our relay by IP or reverse DNS, or our relay's own "
     "line in `relays.received_format` has no other receipt above it); also the hops skipped "
     "when attributing a trap hit to a source."},
    {"relays.received_format", Type::kString, R"("postfix")",
     "The Received format our relays write, which their own line in a returned original must "
     "have to count (docs/correlation.md): `postfix` (`by HOST (Postfix) with ESMTP id ID`), "
     "`exim` (`with esmtp (Exim N) id XXXXXX-XXXXXX-XX`), `sendmail` (`by HOST (8.x/8.x) with "
     "ESMTP id ID`), or `any` (any line whose by-host is ours).",
     "postfix|exim|sendmail|any"},
    // --- BATV ---
    {"batv.mode", Type::kString, R"("tag")",
     "BATV at RCPT for null-sender mail to our domains: `enforce` rejects a missing or invalid "
     "tag with 550 5.7.1 (after the grace period); `tag` only records and adds the finding to "
     "the end-of-message decision; `off` disables checking (signing still follows `batv.sign`).",
     "enforce|tag|off"},
    {"batv.sign", Type::kBool, "true", "Sign outbound envelope senders of our domains (CHGFROM)."},
    {"batv.key_file", Type::kString, R"("")",
     "BATV key file (lines `K HEXSECRET`, K the key digit 0-9). Empty: `<state.dir>/batv.keys`, "
     "generated on first start with mode 0600. A group- or world-readable key file is refused."},
    {"batv.key_number", Type::kInt, "0", "Key digit used for signing new tags when set; otherwise "
     "the key file's `sign` line (or its first key) decides. Rotation: docs/operations.md.", {}, 0, 9},
    {"batv.lifetime_days", Type::kInt, "7", "Days a tag stays valid (the draft's 7).", {}, 1, 30},
    {"batv.grace_days", Type::kInt, "7",
     "In `enforce` mode, days after the first start during which a missing tag is only recorded "
     "(mail sent before signing began can still bounce back).", {}, 0, 365},
    {"batv.sign_domains", Type::kStringList, "[]",
     "Domains whose senders are signed; empty means `domains.local`."},
    // --- roles ---
    {"outbound.daemon_names", Type::kStringList, R"(["ORIGINATING"])",
     "Values of the `{daemon_name}` macro that mark outbound mail (Postfix: "
     "`-o milter_macro_daemon_name=ORIGINATING` on the submission service)."},
    {"outbound.networks", Type::kStringList, "[]",
     "Client networks (CIDR) whose mail is outbound even without authentication.",
     {}, 0, INT64_MAX, {}, Syntax::kNetwork},
    // --- classification ---
    {"classify.max_body", Type::kInt, "262144",
     "Body bytes kept per message for classification (the rest is counted, not stored).", {},
     4096, 16 << 20},
    {"classify.rules_file", Type::kString, R"("")",
     "A rules file replacing the built-in rules (format: docs/rules.md). Empty: built-in."},
    // --- ledger ---
    {"ledger.ttl_days", Type::kInt, "30", "Days an outbound Message-ID stays in the ledger.", {}, 1,
     3650},
    {"ledger.recipient_window_days", Type::kInt, "6",
     "How many days before a DSN's Arrival-Date a message of ours to the recipient it reports "
     "may have been sent to count as that message (a DSN that returns no original is matched by "
     "recipient and time): our queue's lifetime (Postfix's `maximal_queue_lifetime` is 5 days) "
     "plus a day. Twice this before the DSN's Date when it has no Arrival-Date (the remote's "
     "queue too); 2 hours of clock skew either way. At most `ledger.ttl_days`.",
     {}, 1, 3650},
    {"ledger.warmup_days", Type::kInt, "7",
     "Until the ledger has recorded outbound mail for this many days, `not_ours` from the ledger "
     "alone is treated as `unknown`.", {}, 0, 365},
    // --- actions per (kind, verdict) ---
    {"actions.bounce.ours", Type::kString, R"("accept")", "Action for a bounce of our own mail.",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.bounce.not_ours", Type::kString, R"("reject")",
     "Action for a bounce proven not to answer our mail.", "accept|tag|quarantine|reject|tempfail"},
    {"actions.bounce.unknown", Type::kString, R"("tag")",
     "Action for a bounce nothing can be checked against.", "accept|tag|quarantine|reject|tempfail"},
    {"actions.virus_notice.ours", Type::kString, R"("accept")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.virus_notice.not_ours", Type::kString, R"("reject")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.virus_notice.unknown", Type::kString, R"("reject")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.challenge.ours", Type::kString, R"("accept")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.challenge.not_ours", Type::kString, R"("reject")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.challenge.unknown", Type::kString, R"("reject")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.subscription_confirm.ours", Type::kString, R"("accept")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.subscription_confirm.not_ours", Type::kString, R"("tag")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.subscription_confirm.unknown", Type::kString, R"("tag")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.autoreply.ours", Type::kString, R"("accept")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.autoreply.not_ours", Type::kString, R"("reject")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.autoreply.unknown", Type::kString, R"("tag")", "",
     "accept|tag|quarantine|reject|tempfail"},
    {"actions.tag_header", Type::kString, R"("X-Backscatter")",
     "Header added by the `tag` action: `kind=...; verdict=...; signals=...`."},
    // --- DNSBL ---
    {"dnsbl.zones", Type::kTableList, "[]",
     "Backscatter DNSBLs queried at MAIL: an array of tables `[[dnsbl.zones]]` with `zone` "
     "(e.g. `ips.backscatterer.org`), `action` (`reject`, `tag` or `score`), optional `codes` "
     "(comma-separated A records that count, e.g. `127.0.0.2`; empty: any 127.0.0.0/8 but "
     "127.0.0.1) and `message` (reply text; `%txt%` is the zone's TXT).",
     {}, 0, INT64_MAX, "zone|action|codes|message"},
    {"dnsbl.safe_mode", Type::kBool, "true",
     "Query DNSBLs only for the null sender and `postmaster@` senders, as backscatterer.org "
     "advises (big legitimate providers are listed too)."},
    {"dnsbl.timeout_ms", Type::kInt, "1500", "Per-query timeout; a timeout never rejects.", {}, 50,
     30000},
    {"dnsbl.resolver", Type::kString, R"("")",
     "Resolver `HOST` or `HOST:PORT` for DNSBL queries; empty uses /etc/resolv.conf."},
    // --- the trap DNSBL's lookup page ---
    {"dnsbl.web.listen", Type::kString, R"("")",
     "HOST:PORT of the trap DNSBL's public web page (docs/dnsbl.md): the list's policy, a lookup "
     "page per IP with its listing and redacted evidence (`/lookup/IP`, `?format=json`) and free "
     "self-service delisting. Served by `backstop serve` (its own thread and connection cap) and "
     "by `backstop dnsbl web`. Plain HTTP: put a TLS reverse proxy in front. Empty disables it.",
     {}, 0, INT64_MAX, {}, Syntax::kHostPort},
    {"dnsbl.web.allow_clients", Type::kStringList, "[]",
     "Client networks (CIDR) allowed to connect to the web page; empty allows any. Behind a "
     "reverse proxy, the proxy's address.",
     {}, 0, INT64_MAX, {}, Syntax::kNetwork},
    {"dnsbl.web.trusted_proxies", Type::kStringList, "[]",
     "Reverse proxies (CIDR) whose `X-Forwarded-For` names the real requester, for the delisting "
     "limits and logs; the header of anyone else is ignored. Empty: the TCP peer is the requester.",
     {}, 0, INT64_MAX, {}, Syntax::kNetwork},
    {"dnsbl.web.zone", Type::kString, R"("")",
     "The list's DNS zone as the pages name it (e.g. `bl.example.org`)."},
    {"dnsbl.web.contact", Type::kString, R"("")",
     "How to reach the list's operator, shown on every page (an address or a URL, as text)."},
    {"dnsbl.web.policy_file", Type::kString, R"("")",
     "Plain-text file with the list's policy for the index page (paragraphs separated by blank "
     "lines; `{zone}`, `{expire_days}`, `{max_days}` and `{contact}` are replaced; at most 64 KiB). "
     "Empty: a default text saying what gets listed, the expiry, how to delist and the contact. "
     "Read at start."},
    {"dnsbl.web.delists_per_network", Type::kInt, "5",
     "Self-service delistings a day from one requesting network (IPv4 /24, IPv6 /48).", {}, 0, 1000000},
    {"dnsbl.web.delists_per_hour", Type::kInt, "100",
     "Self-service delistings an hour from everyone together (a botnet cannot empty the list).",
     {}, 0, 1000000},
    {"dnsbl.web.max_self_delists", Type::kInt, "3",
     "Self-service delistings per listed IP over its listing's life (until purged); each one "
     "doubles the IP's later listings (at most 8 times `trap.expire_days`). After that the IP "
     "expires by itself or the operator delists it (`backstop dnsbl delist`).",
     {}, 0, 1000},
    {"dnsbl.web.export_interval", Type::kInt, "0",
     "Seconds between zone exports (`dnsbl export --watch`), for the pages' \"the delisting "
     "reaches the DNS within ...\"; 0 says \"at the next export\".", {}, 0, 86400},
    {"dnsbl.web.max_connections", Type::kInt, "64",
     "Concurrent connections to the web page; more are closed at accept.", {}, 1, 4096},
    // --- trap ---
    {"trap.addresses", Type::kStringList, "[]", "Spamtrap addresses (exact, case-insensitive)."},
    {"trap.domains", Type::kStringList, "[]", "Spamtrap domains: every address in them is a trap."},
    {"trap.threshold", Type::kInt, "1", "Backscatter hits from one IP before it is listed.", {}, 1,
     1000000},
    {"trap.expire_days", Type::kInt, "28", "Quiet days after which a listing expires.", {}, 1, 3650},
    {"trap.retention_days", Type::kInt, "90",
     "Days a listing and its evidence are kept after it expired (last hit + `trap.expire_days`), "
     "delisted or not, for `dnsbl list --all` and delisting requests; then the hourly purge of "
     "`serve` removes it.",
     {}, 0, 3650},
    {"trap.action", Type::kString, R"("reject")",
     "What the SMTP transaction of a trap hit gets after it is recorded: `reject` (550) or "
     "`discard` (accept and drop).",
     "reject|discard"},
    {"trap.allow", Type::kStringList, "[]", "Networks (CIDR) that are never listed.",
     {}, 0, INT64_MAX, {}, Syntax::kNetwork},
    // --- outbound limits ---
    {"limits.rule", Type::kTableList, "[]",
     "Outbound limits (mail from SASL-authenticated clients, `outbound.daemon_names` and "
     "`outbound.networks`), an array of tables `[[limits.rule]]` with: `scope` (`sasl_user`, "
     "`client_ip` — IPv6 per /64 — or `sender_domain`); `messages`, `recipients` and `senders` "
     "(distinct envelope senders), each a list of windows `N/DURATION` such as `\"100/1m, 2000/1d\"` "
     "(sliding: never more than N in any interval of that length); `action` (`tempfail` = "
     "`451 4.7.1`, the default; `hold` = keep in the MTA's hold queue; `reject` = `550 5.7.1`; "
     "`alert` = only log, count and notify); optional `match`, a comma-separated list of users, "
     "addresses or domains the rule is for (an override: for them it replaces the rules without "
     "`match` of the same scope); optional `name` (in logs and metrics; default the scope). "
     "Distinct senders are counted exactly up to 128 per window step, then with a HyperLogLog "
     "sketch (1024 registers, standard error 3.25%). Empty: no limits.",
     {}, 0, INT64_MAX, "name|scope|match|messages|recipients|senders|action"},
    {"limits.exempt", Type::kStringList, "[]",
     "Never limited: SASL user names (`newsletter`), sender addresses (`news@example.org`), "
     "sender domains (`@lists.example.org`) and client networks (`192.0.2.0/24`)."},
    {"limits.notify", Type::kString, R"("")",
     "Address that gets a notice mail when a limit trips, at most once per limit, client and "
     "window. Empty: log and metric only."},
    {"limits.sendmail", Type::kString, R"("/usr/sbin/sendmail")",
     "How notices are sent: the MTA's sendmail program (`-i -f <>` and the address), or "
     "`smtp:HOST:PORT` to submit them by SMTP from the null sender. Under the shipped systemd "
     "unit use `smtp:127.0.0.1:25`: its NoNewPrivileges stops Postfix's setgid postdrop."},
    // --- autoreply gate ---
    {"autoreply.gate", Type::kString, R"("enforce")",
     "The outbound gate for automated responses (out-of-office, challenges, virus notices, "
     "subscription confirmations): `enforce` refuses the unsafe ones, `log` only logs and counts "
     "what it would refuse, `off` disables it. During `ledger.warmup_days` after the first start "
     "`enforce` acts as `log`, because correspondents are not known yet.",
     "enforce|log|off"},
    {"autoreply.period_days", Type::kInt, "7",
     "An automatic reply goes to the same correspondent at most once per this many days (RFC 3834 "
     "recommends 7).",
     {}, 1, 365},
    {"autoreply.any_sender", Type::kStringList, "[]",
     "Our domains whose users' automatic replies may go to any sender, not only to known "
     "correspondents (the other RFC 3834 checks still apply)."},
    {"autoreply.challenge", Type::kString, R"("reject")",
     "Challenge/response challenges sent by our users: `reject` (they reach forged senders) or "
     "`accept`.",
     "reject|accept"},
    {"autoreply.list_hosts", Type::kStringList, "[]",
     "Hosts allowed to send subscription confirmations: client networks (CIDR), SASL users, or "
     "sender domains (`@lists.example.org`)."},
    {"autoreply.refuse_action", Type::kString, R"("reject")",
     "What happens to an automated response the gate refuses: `reject` (`550 5.7.1` with the "
     "reason, so the submitting program learns it), `discard` (dropped silently) or `hold`. "
     "Virus notices to outside addresses are always discarded.",
     "reject|discard|hold"},
    {"autoreply.facts_ttl_days", Type::kInt, "8",
     "How long the facts the gate needs about an inbound message (lists, bulk, automatic, "
     "personal to whom, spam) are kept, by Message-ID.",
     {}, 1, 90},
    // --- logging ---
    {"log.level", Type::kString, R"("info")", "Log level.", "trace|debug|info|warn|error"},
    {"log.target", Type::kString, R"("stderr")",
     "Where logs go: `stderr` (systemd journal), `syslog` (facility mail) or a file path."},
    {"log.flush_ms", Type::kInt, "1000",
     "With `stderr` or a file as `log.target`, informational lines (one per decision) are "
     "buffered and written at most this many milliseconds later, instead of one write per line; "
     "warnings and errors are written at once, and everything is written on SIGTERM. A crash "
     "loses at most this much of the log. `0` writes every line as it is logged. `syslog` "
     "always sends each line.",
     {}, 0, 60000},
};

}  // namespace

std::span<const KeyDef> keys() { return kKeys; }

bool is_section(std::string_view name) {
  for (const auto& k : kKeys) {
    if (k.name.size() > name.size() && k.name.starts_with(name) && k.name[name.size()] == '.') return true;
  }
  return false;
}

const KeyDef* find_key(std::string_view name) {
  for (const auto& k : kKeys) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

}  // namespace backstop::config
