#!/bin/sh
# Integration test of the shared options: --state and --config are accepted
# before the command name, between command and subcommand, and after the
# subcommand, and reach the command (the ledger entry is written in the state
# directory given, wherever it was given). Options a command does not take
# and unknown options stay usage errors (exit 2).
set -u
BIN=$1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/backstop-cli-options.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
# Runs that must not depend on the host's /etc/backstop/backstop.toml name
# this empty configuration file instead.
printf '# empty: the embedded defaults\n' > "$TMP/empty.toml"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# in_ledger DIR ID: true if `ledger show` finds ID in the ledger in DIR.
in_ledger() {
  [ -d "$1" ] && "$BIN" ledger show --config "$TMP/empty.toml" --state "$1" "$2" >/dev/null 2>&1
}

# --state in each position; each run writes only into its own directory.
"$BIN" --config "$TMP/empty.toml" --state "$TMP/top" ledger add top@example.com >/dev/null ||
  fail "--state before the command: rc=$?"
"$BIN" ledger --config "$TMP/empty.toml" --state "$TMP/mid" add mid@example.com >/dev/null ||
  fail "--state before the subcommand: rc=$?"
"$BIN" ledger add --config "$TMP/empty.toml" --state "$TMP/leaf" leaf@example.com >/dev/null ||
  fail "--state after the subcommand: rc=$?"
"$BIN" ledger add leaf2@example.com --config "$TMP/empty.toml" --state "$TMP/leaf" >/dev/null ||
  fail "--state after the positional: rc=$?"
for pos in top mid leaf; do
  in_ledger "$TMP/$pos" "$pos@example.com" || fail "--state $pos: entry not in $TMP/$pos"
done
in_ledger "$TMP/leaf" leaf2@example.com || fail "--state after the positional: entry missing"
in_ledger "$TMP/top" mid@example.com && fail "mid entry found in the top directory"
in_ledger "$TMP/mid" leaf@example.com && fail "leaf entry found in the mid directory"

# The later (more specific) position wins; the earlier directories stay unused.
"$BIN" --config "$TMP/empty.toml" --state "$TMP/p1" ledger --state "$TMP/p2" add --state "$TMP/p3" \
  win@example.com >/dev/null || fail "--state in three positions: rc=$?"
in_ledger "$TMP/p3" win@example.com || fail "--state in three positions: entry not in the last one"
[ -e "$TMP/p1" ] && fail "--state in three positions: the first directory was created"
[ -e "$TMP/p2" ] && fail "--state in three positions: the second directory was created"

# --config in each position: the ledger follows state.dir of the file.
for pos in top mid leaf; do
  printf 'state.dir = "%s"\n' "$TMP/cfg-$pos" > "$TMP/$pos.toml"
done
"$BIN" --config "$TMP/top.toml" ledger add c@example.com >/dev/null || fail "--config before the command: rc=$?"
"$BIN" ledger -c "$TMP/mid.toml" add c@example.com >/dev/null || fail "-c before the subcommand: rc=$?"
"$BIN" ledger add c@example.com --config "$TMP/leaf.toml" >/dev/null || fail "--config after the subcommand: rc=$?"
for pos in top mid leaf; do
  in_ledger "$TMP/cfg-$pos" c@example.com || fail "--config $pos: entry not in its state.dir"
done
# --state overrides the file's state.dir, whatever the positions.
"$BIN" --state "$TMP/over" ledger add --config "$TMP/top.toml" o@example.com >/dev/null ||
  fail "--state with --config: rc=$?"
in_ledger "$TMP/over" o@example.com || fail "--state did not override state.dir"
in_ledger "$TMP/cfg-top" o@example.com && fail "entry written in state.dir despite --state"

# Other commands: dnsbl and trap open the store in the directory given.
for args in "--state $TMP/d1 dnsbl list" "dnsbl --state $TMP/d2 list" "dnsbl list --state $TMP/d3"; do
  # shellcheck disable=SC2086
  "$BIN" --config "$TMP/empty.toml" $args >/dev/null || fail "$args: rc=$?"
done
for d in d1 d2 d3; do [ -d "$TMP/$d" ] || fail "dnsbl list did not open the store in $d"; done
cp "$(dirname "$0")/../samples/vacation-classic.eml" "$TMP/trapped.eml"
"$BIN" trap ingest --quiet --config "$TMP/empty.toml" --state "$TMP/t1" "$TMP/trapped.eml" >/dev/null ||
  fail "trap ingest --state after the subcommand: rc=$?"
[ -d "$TMP/t1" ] || fail "trap ingest did not open the store in t1"

# config check: the file checked, given in each position.
printf 'no.such_key = 1\n' > "$TMP/bad.toml"
for args in "--config $TMP/bad.toml config check" "config --config $TMP/bad.toml check" \
            "config check --config $TMP/bad.toml"; do
  # shellcheck disable=SC2086
  out=$("$BIN" $args 2>&1); rc=$?
  [ "$rc" = 2 ] || fail "$args: rc=$rc, want 2 ($out)"
  case $out in *no.such_key*) ;; *) fail "$args: error does not name the key: $out" ;; esac
done
out=$("$BIN" -c "$TMP/top.toml" config check) || fail "-c before config check: rc=$?"
[ "$out" = "$TMP/top.toml: OK" ] || fail "-c before config check printed '$out'"
# config check compiles the rules file as serve would: a pattern the matcher
# refuses is an error naming its line; a good file is timed.
printf 'ok-rule header:x-test auto 0.5 /^yes/\nbad-rule header:x-test auto 0.5 /(?<=a+)b/\n' > "$TMP/bad.rules"
printf 'classify.rules_file = "%s"\n' "$TMP/bad.rules" > "$TMP/rules.toml"
out=$("$BIN" config check --config "$TMP/rules.toml" 2>&1); rc=$?
[ "$rc" = 2 ] || fail "config check with a bad pattern: rc=$rc, want 2 ($out)"
case $out in *"line 2"*) ;; *) fail "config check: the rules error does not name line 2: $out" ;; esac
printf 'ok-rule header:x-test auto 0.5 /^yes/\n' > "$TMP/good.rules"
printf 'classify.rules_file = "%s"\n' "$TMP/good.rules" > "$TMP/rules.toml"
out=$("$BIN" config check --config "$TMP/rules.toml") || fail "config check with good rules: rc=$?"
case $out in *"1 rules compiled in "*" s"*"$TMP/rules.toml: OK"*) ;; *) fail "config check with good rules printed '$out'" ;; esac

# A repeatable option takes one value per use: it does not swallow the paths
# after it.
n=$("$BIN" scan --no-progress --format jsonl --trusted 192.0.2.0/24 "$TMP/trapped.eml" "$TMP/trapped.eml" |
    grep -c '"file"')
[ "$n" = 2 ] || fail "scan --trusted CIDR FILE FILE scanned $n message(s), want 2"

# Usage errors: exit 2, nothing written.
"$BIN" ledger add --bogus x --state "$TMP/u1" x@example.com 2>/dev/null; rc=$?
[ "$rc" = 2 ] || fail "unknown option: rc=$rc, want 2"
"$BIN" --bogus --state "$TMP/u1" ledger add x@example.com 2>/dev/null; rc=$?
[ "$rc" = 2 ] || fail "unknown option before the command: rc=$rc, want 2"
"$BIN" ledger add x@example.com --state 2>/dev/null; rc=$?
[ "$rc" = 2 ] || fail "--state without a value: rc=$rc, want 2"
err=$("$BIN" --state "$TMP/u1" classify "$TMP/trapped.eml" 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--state before a command that takes none: rc=$rc, want 2"
case $err in *"--state"*classify*) ;; *) fail "--state before classify: message '$err'" ;; esac
"$BIN" classify --state "$TMP/u1" "$TMP/trapped.eml" >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "--state after a command that takes none: rc=$rc, want 2"
"$BIN" --state "$TMP/u1" config check >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "--state before config (which takes only --config): rc=$rc, want 2"
"$BIN" --config "$TMP/empty.toml" batv sign --secret s user@example.org >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "--config before batv: rc=$rc, want 2"
[ -e "$TMP/u1" ] && fail "a usage error created the state directory"

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all CLI option checks passed"
