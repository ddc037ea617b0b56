#!/bin/sh
# Integration test of `backstop ledger add|show|import` on a fresh LMDB state
# directory, then of ledger and dnsbl with state.backend = "redis". Times are
# relative to now so entries are inside the 30-day TTL.
set -u
BIN=$1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/backstop-ledger-cli.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
STATE="$TMP/state"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

now=$(date -u +%s)
stamp=$(date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ)

out=$("$BIN" ledger --state "$STATE" add '<m1@example.com>' --from alice@example.com \
      --to bob@example.net --to carol@example.org --time "$now") || fail "add rc=$?"
want="<m1@example.com> $stamp from=<alice@example.com> to=<bob@example.net>,<carol@example.org>"
[ "$out" = "$want" ] || fail "add printed '$out'"
out=$("$BIN" ledger --state "$STATE" show m1@example.com) || fail "show rc=$?"
[ "$out" = "$want" ] || fail "show printed '$out'"
"$BIN" ledger --state "$STATE" show '<absent@example.com>' >/dev/null; rc=$?
[ "$rc" = 1 ] || fail "show of an absent id: rc=$rc"

# A Postfix log (RFC 3339 stamps, as Debian's rsyslog writes): one relayed
# message, one delivered locally over LMTP, one without a from= line.
cat > "$TMP/mail.log" <<LOG
$stamp mx postfix/cleanup[11]: AAAA1111: message-id=<out1@example.com>
$stamp mx postfix/qmgr[12]: AAAA1111: from=<alice@example.com>, size=500, nrcpt=1 (queue active)
$stamp mx postfix/cleanup[11]: BBBB2222: message-id=<in1@example.net>
$stamp mx postfix/qmgr[12]: BBBB2222: from=<stranger@example.net>, size=500, nrcpt=1 (queue active)
$stamp mx postfix/smtp[13]: AAAA1111: to=<dave@example.net>, relay=a[192.0.2.1]:25, delay=1, dsn=2.0.0, status=sent (250 ok)
$stamp mx postfix/lmtp[14]: BBBB2222: to=<alice@example.com>, relay=dovecot, delay=1, dsn=2.0.0, status=sent (ok)
$stamp mx postfix/qmgr[12]: AAAA1111: removed
$stamp mx postfix/qmgr[12]: BBBB2222: removed
$stamp mx postfix/cleanup[11]: CCCC3333: message-id=<nofrom@example.com>
LOG
out=$("$BIN" ledger --state "$STATE" import "$TMP/mail.log") || fail "import rc=$?"
case $out in "imported 1 message(s); skipped 1 delivered only locally"*) ;; *) fail "import printed '$out'" ;; esac
out=$("$BIN" ledger --state "$STATE" show out1@example.com) || fail "imported id missing"
[ "$out" = "<out1@example.com> $stamp from=<alice@example.com> to=<dave@example.net>" ] || fail "imported entry '$out'"
"$BIN" ledger --state "$STATE" show in1@example.net >/dev/null && fail "local delivery imported without --all"
"$BIN" ledger --state "$STATE" import --all "$TMP/mail.log" >/dev/null || fail "import --all rc=$?"
"$BIN" ledger --state "$STATE" show in1@example.net >/dev/null || fail "--all did not import the local delivery"
"$BIN" ledger --state "$STATE" show nofrom@example.com >/dev/null && fail "an id without from= was imported"
lines=$("$BIN" ledger --state "$STATE" show | grep -c '^<')
[ "$lines" = 3 ] || fail "show listed $lines entries, want 3"
"$BIN" ledger --state "$STATE" import "$TMP/absent.log" 2>/dev/null; rc=$?
[ "$rc" = 2 ] || fail "import of a missing file: rc=$rc"

# state.backend = "redis": the same commands on a private redis-server (unix
# socket in $TMP, no TCP, nothing persisted), stopped by PID at the end.
if command -v redis-server >/dev/null 2>&1; then
  SOCK="$TMP/redis.sock"
  redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save "" --appendonly no \
    --dir "$TMP" --logfile "$TMP/redis.log" --daemonize no &
  REDIS_PID=$!
  trap 'kill -9 "$REDIS_PID" 2>/dev/null; rm -rf "$TMP"' EXIT
  i=0
  while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  cat > "$TMP/redis.toml" <<CONF
state.dir = "$TMP/rstate"
state.backend = "redis"
redis.servers = ["$SOCK"]
redis.prefix = "cli:"
CONF
  out=$("$BIN" ledger --config "$TMP/redis.toml" add '<r1@example.com>' --from alice@example.com \
        --to bob@example.net --time "$now") || fail "redis: add rc=$?"
  out=$("$BIN" ledger --config "$TMP/redis.toml" show r1@example.com) || fail "redis: show rc=$?"
  [ "$out" = "<r1@example.com> $stamp from=<alice@example.com> to=<bob@example.net>" ] || fail "redis: show printed '$out'"
  "$BIN" ledger --config "$TMP/redis.toml" show m1@example.com >/dev/null && fail "redis: an LMDB entry is visible"
  [ -e "$TMP/rstate/data.mdb" ] && fail "redis: an LMDB environment was created"
  "$BIN" dnsbl --config "$TMP/redis.toml" allow 192.0.2.0/24 >/dev/null || fail "redis: dnsbl allow rc=$?"
  out=$("$BIN" dnsbl --config "$TMP/redis.toml" list --all) || fail "redis: dnsbl list rc=$?"
  # Redis down: a clear error and a non-zero status, not a hang or a crash.
  kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
  err=$("$BIN" ledger --config "$TMP/redis.toml" show r1@example.com 2>&1 >/dev/null); rc=$?
  [ "$rc" = 1 ] || fail "redis down: rc=$rc"
  case $err in *redis*) ;; *) fail "redis down: message '$err'" ;; esac
else
  echo "redis-server not installed: Redis checks skipped"
fi

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all ledger CLI checks passed"
