#!/bin/sh
# Integration test of `backstop check FILE...`: several files print the
# one-file blocks in order, separated by an empty line; a file that cannot be
# read is reported on stderr, the others are still judged, and the exit
# status is 2. No state directory: the ledger is an empty in-memory one.
set -u
BIN=$1
SAMPLES=$2
TMP=$(mktemp -d "${TMPDIR:-/tmp}/backstop-check-cli.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
printf '# empty: the embedded defaults\n' > "$TMP/empty.toml"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

A=$SAMPLES/vacation-classic.eml
B=$SAMPLES/amavis-virus-sender-dsn.eml
MISSING=$TMP/missing.eml
check() { "$BIN" check --config "$TMP/empty.toml" --state "$TMP/no-state" --rcpt alice@example.org "$@"; }

# One file: one block, from its "file:" line to its "decision:" line.
check "$A" > "$TMP/a.out" 2>"$TMP/a.err" || fail "check A: rc=$?"
check "$B" > "$TMP/b.out" 2>"$TMP/b.err" || fail "check B: rc=$?"
for f in a b; do
  [ -s "$TMP/$f.err" ] && fail "check $f wrote on stderr: $(cat "$TMP/$f.err")"
  grep -q '^$' "$TMP/$f.out" && fail "check $f: empty line in a one-file block"
  grep -q '^decision: ' "$TMP/$f.out" || fail "check $f: no decision line"
  grep -q '^envelope: from=<> to=<alice@example.org> client=-$' "$TMP/$f.out" || fail "check $f: envelope line"
done
[ "$(head -n 1 "$TMP/a.out")" = "file:     $A" ] || fail "check A: first line '$(head -n 1 "$TMP/a.out")'"

# Two files: both blocks, in order, separated by one empty line; exit 0.
{ cat "$TMP/a.out"; echo; cat "$TMP/b.out"; } > "$TMP/ab.want"
check "$A" "$B" > "$TMP/ab.out" || fail "check A B: rc=$?"
cmp -s "$TMP/ab.want" "$TMP/ab.out" || fail "check A B: output differs: $(diff "$TMP/ab.want" "$TMP/ab.out")"
# --rcpt between the files takes one value; both files are still judged.
"$BIN" check --config "$TMP/empty.toml" --state "$TMP/no-state" "$A" --rcpt alice@example.org "$B" \
  > "$TMP/ab2.out" || fail "check A --rcpt R B: rc=$?"
cmp -s "$TMP/ab.want" "$TMP/ab2.out" || fail "check A --rcpt R B: output differs"

# A missing file and a directory between them: reported, skipped, exit 2.
check "$A" "$MISSING" "$TMP" "$B" > "$TMP/amb.out" 2> "$TMP/amb.err"; rc=$?
[ "$rc" = 2 ] || fail "check with unreadable files: rc=$rc, want 2"
cmp -s "$TMP/ab.want" "$TMP/amb.out" || fail "check with unreadable files: output differs: $(diff "$TMP/ab.want" "$TMP/amb.out")"
grep -q "^backstop: cannot read $MISSING: " "$TMP/amb.err" || fail "missing file not reported: $(cat "$TMP/amb.err")"
[ "$(wc -l < "$TMP/amb.err")" = 2 ] || fail "want two error lines: $(cat "$TMP/amb.err")"

# Only unreadable files: nothing on stdout, exit 2.
check "$MISSING" > "$TMP/m.out" 2>/dev/null; rc=$?
[ "$rc" = 2 ] || fail "check of a missing file: rc=$rc, want 2"
[ -s "$TMP/m.out" ] && fail "check of a missing file printed '$(cat "$TMP/m.out")'"

# An unusable configuration: nothing judged, exit 2.
"$BIN" check --config "$TMP/absent.toml" "$A" "$B" > "$TMP/c.out" 2>/dev/null; rc=$?
[ "$rc" = 2 ] || fail "check with a missing configuration: rc=$rc, want 2"
[ -s "$TMP/c.out" ] && fail "check with a missing configuration printed a block"
# No file: a usage error.
"$BIN" check --config "$TMP/empty.toml" 2>/dev/null; rc=$?
[ "$rc" = 2 ] || fail "check without a file: rc=$rc, want 2"

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all check CLI checks passed"
