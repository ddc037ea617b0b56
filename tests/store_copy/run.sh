#!/bin/sh
# Integration test of `backstop store copy|verify`: a state filled through the
# CLI (ledger import, dnsbl allow, trap ingest with its evidence) is copied from LMDB to a
# private redis-server (unix socket in a temporary directory, nothing
# persisted, stopped by PID), from there to a fresh LMDB state, and from LMDB
# to LMDB; each copy's `verify` counts and ledger lookups must match the
# original's. Without redis-server the Redis legs are skipped.
set -u
BIN=$1
SRC=${BACKSTOP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/backstop-store-copy.XXXXXX") || exit 2
REDIS_PID=
cleanup() {
  [ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# Count lines of `verify`, without the final verdict line (it names the state).
counts() { "$BIN" store verify --config "$1" 2>"$TMP/verify.err" | grep -E '^(main|counters|facts):'; }
lmdb_conf() { printf 'state.dir = "%s"\n' "$2" > "$1"; }

# ---- fill an LMDB state: N relayed messages from a Postfix log ----
N=300
now=$(date -u +%s)
stamp=$(date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ)
i=0
while [ $i -lt $N ]; do
  q=$(printf 'Q%07X' $i)
  echo "$stamp mx postfix/cleanup[11]: $q: message-id=<m$i@example.com>"
  echo "$stamp mx postfix/qmgr[12]: $q: from=<alice@example.com>, size=500, nrcpt=1 (queue active)"
  echo "$stamp mx postfix/smtp[13]: $q: to=<r$i@example.net>, relay=a[192.0.2.1]:25, delay=1, dsn=2.0.0, status=sent (250 ok)"
  echo "$stamp mx postfix/qmgr[12]: $q: removed"
  i=$((i + 1))
done > "$TMP/mail.log"
lmdb_conf "$TMP/a.toml" "$TMP/a"
out=$("$BIN" ledger --config "$TMP/a.toml" import "$TMP/mail.log") || fail "import rc=$?"
case $out in "imported $N message(s)"*) ;; *) fail "import printed '$out'" ;; esac
"$BIN" dnsbl --config "$TMP/a.toml" allow 192.0.2.0/24 >/dev/null || fail "dnsbl allow rc=$?"
"$BIN" dnsbl --config "$TMP/a.toml" allow 2001:db8::/32 >/dev/null || fail "dnsbl allow v6 rc=$?"
"$BIN" trap --config "$TMP/a.toml" ingest --quiet "$SRC/tests/samples" >/dev/null 2>&1
# One attributed bounce: a listing with its evidence record (both copied).
cat > "$TMP/bounce.eml" <<'MSG'
Received: from bouncer.example.net (bouncer.example.net [198.51.100.23])
	by mx1.trap.example (Postfix) with ESMTP id A1
	for <trap@trap.example>; Mon, 2 Nov 2026 10:00:01 +0000
Return-Path: <>
Message-ID: <bounce-77@bouncer.example.net>
From: MAILER-DAEMON@bouncer.example.net (Mail Delivery System)
To: trap@trap.example
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

This is the mail system at host bouncer.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; bouncer.example.net

Final-Recipient: rfc822; nobody@example.net
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address rejected

--B1--
MSG
"$BIN" trap --config "$TMP/a.toml" ingest --quiet "$TMP/bounce.eml" >/dev/null 2>&1 || fail "trap ingest of the bounce"
evidence() { "$BIN" dnsbl --config "$1" show 198.51.100.23 | grep -v '^198'; }
want_evidence=$(evidence "$TMP/a.toml")
case $want_evidence in *"evidence "*"Subject: Undelivered Mail Returned to Sender"*) ;;
  *) fail "no evidence kept for the bounce: '$want_evidence'" ;; esac

a_counts=$(counts "$TMP/a.toml") || fail "verify a rc=$?"
echo "$a_counts"
case $a_counts in *"main: ledger=$N first_time=1 correspondents=0 counters=0 records=1 listings="*" allowlist=2 damaged=0"*) ;;
  *) fail "verify a printed '$a_counts'" ;; esac
show() { "$BIN" ledger --config "$1" show "$2"; }
want7=$(show "$TMP/a.toml" m7@example.com) || fail "show m7 in a"
want299=$(show "$TMP/a.toml" m299@example.com) || fail "show m299 in a"
first=$("$BIN" ledger --config "$TMP/a.toml" show --limit 0 | head -1)

# Same state on both sides, a missing source, a memory backend: exit 2.
"$BIN" store copy --from "$TMP/a.toml" --to "$TMP/a.toml" >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "copy onto itself: rc=$rc"
lmdb_conf "$TMP/missing.toml" "$TMP/missing"
"$BIN" store copy --from "$TMP/missing.toml" --to "$TMP/a.toml" >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "copy from a missing state: rc=$rc"
[ -e "$TMP/missing" ] && fail "copy created the missing source"
"$BIN" store verify --config "$TMP/missing.toml" >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "verify of a missing state: rc=$rc"

# ---- LMDB -> LMDB ----
lmdb_conf "$TMP/b.toml" "$TMP/b"
out=$("$BIN" store copy --from "$TMP/a.toml" --to "$TMP/b.toml") || fail "copy a->b rc=$?"
case $out in *"main: copied ledger=$N "*) ;; *) fail "copy a->b printed '$out'" ;; esac
[ "$(counts "$TMP/b.toml")" = "$a_counts" ] || fail "b counts '$(counts "$TMP/b.toml")' != '$a_counts'"
[ "$(show "$TMP/b.toml" m7@example.com)" = "$want7" ] || fail "b: m7 differs"
[ "$(evidence "$TMP/b.toml")" = "$want_evidence" ] || fail "b: the trap evidence differs"
[ "$("$BIN" ledger --config "$TMP/b.toml" show --limit 0 | head -1)" = "$first" ] || fail "b: first time differs"
"$BIN" store copy --from "$TMP/a.toml" --to "$TMP/b.toml" >/dev/null 2>"$TMP/err"; rc=$?
[ "$rc" = 2 ] || fail "copy into a non-empty state: rc=$rc"
grep -q "not empty" "$TMP/err" || fail "non-empty refusal says '$(cat "$TMP/err")'"
"$BIN" store copy --from "$TMP/a.toml" --to "$TMP/b.toml" --merge >/dev/null || fail "merge a->b rc=$?"
[ "$(counts "$TMP/b.toml")" = "$a_counts" ] || fail "b counts after merge '$(counts "$TMP/b.toml")'"

# ---- LMDB -> Redis -> LMDB ----
if command -v redis-server >/dev/null 2>&1; then
  SOCK="$TMP/redis.sock"
  redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save "" --appendonly no \
    --dir "$TMP" --logfile "$TMP/redis.log" --daemonize no &
  REDIS_PID=$!
  i=0
  while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  printf 'state.backend = "redis"\nredis.servers = ["%s"]\nredis.prefix = "copy:"\n' "$SOCK" > "$TMP/r.toml"
  out=$("$BIN" store copy --from "$TMP/a.toml" --to "$TMP/r.toml") || fail "copy a->redis rc=$?"
  case $out in *"main: copied ledger=$N "*) ;; *) fail "copy a->redis printed '$out'" ;; esac
  [ "$(counts "$TMP/r.toml")" = "$a_counts" ] || fail "redis counts '$(counts "$TMP/r.toml")' != '$a_counts'"
  [ "$(show "$TMP/r.toml" m299@example.com)" = "$want299" ] || fail "redis: m299 differs"
  "$BIN" store copy --from "$TMP/a.toml" --to "$TMP/r.toml" >/dev/null 2>&1; rc=$?
  [ "$rc" = 2 ] || fail "copy into a non-empty Redis: rc=$rc"

  lmdb_conf "$TMP/c.toml" "$TMP/c"
  out=$("$BIN" store copy --from "$TMP/r.toml" --to "$TMP/c.toml") || fail "copy redis->c rc=$?"
  [ "$(counts "$TMP/c.toml")" = "$a_counts" ] || fail "c counts '$(counts "$TMP/c.toml")' != '$a_counts'"
  [ "$(show "$TMP/c.toml" m7@example.com)" = "$want7" ] || fail "c: m7 differs"
  [ "$(show "$TMP/c.toml" m299@example.com)" = "$want299" ] || fail "c: m299 differs"
  [ "$(evidence "$TMP/r.toml")" = "$want_evidence" ] || fail "redis: the trap evidence differs"
  [ "$(evidence "$TMP/c.toml")" = "$want_evidence" ] || fail "c: the trap evidence differs"
  [ "$("$BIN" ledger --config "$TMP/c.toml" show --limit 0 | head -1)" = "$first" ] || fail "c: first time differs"
  [ "$("$BIN" dnsbl --config "$TMP/c.toml" list --all)" = "$("$BIN" dnsbl --config "$TMP/a.toml" list --all)" ] ||
    fail "c: listings differ"

  # Redis down: verify cannot read the state (2), copy from it fails (2).
  kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null; REDIS_PID=
  "$BIN" store verify --config "$TMP/r.toml" >/dev/null 2>&1; rc=$?
  [ "$rc" = 2 ] || fail "verify with Redis down: rc=$rc"
  lmdb_conf "$TMP/d.toml" "$TMP/d"
  "$BIN" store copy --from "$TMP/r.toml" --to "$TMP/d.toml" >/dev/null 2>&1; rc=$?
  [ "$rc" = 2 ] || fail "copy from Redis down: rc=$rc"
else
  echo "redis-server not installed: Redis legs skipped"
fi

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all store copy checks passed"
