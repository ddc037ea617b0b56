#!/bin/sh
# Integration test of `backstop batv`: outputs and exit codes, with "today"
# pinned by --day so the expected tags are Exim's (data/prvs-vectors.tsv).
set -u
BIN=$1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/backstop-batv-cli.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
failures=0

# expect WANT_RC WANT_STDOUT ARGS...: runs `backstop batv ARGS`, compares.
expect() {
  want_rc=$1; want_out=$2; shift 2
  out=$("$BIN" batv "$@" 2>"$TMP/stderr"); rc=$?
  if [ "$rc" != "$want_rc" ] || { [ -n "$want_out" ] && [ "$out" != "$want_out" ]; }; then
    echo "FAIL: batv $* -> rc=$rc out='$out' (want rc=$want_rc out='$want_out'); stderr: $(cat "$TMP/stderr")"
    failures=$((failures + 1))
  else
    echo "ok: batv $*"
  fi
}

# Signing: Exim's bytes (2024-01-01 = day 19723).
expect 0 prvs=1730f8783e=user@example.org sign --secret secret --key-number 1 --day 19723 user@example.org
expect 0 prvs=073032b19c=user@example.org sign --secret secret --day 19723 user@example.org
expect 0 prvs=0730977932=User.Name@Example.ORG sign --secret secret --day 19723 User.Name@Example.ORG
expect 0 prvs=00008d6c5f=user@example.org sign --secret secret --day 20993 user@example.org
# Policy: never tag twice, only our domains, never the unqualified.
expect 1 prvs=0730c0ffee=user@example.org sign --secret secret --day 19723 prvs=0730c0ffee=user@example.org
expect 1 user@other.example sign --secret secret --day 19723 --domain example.org user@other.example
expect 0 prvs=073032b19c=user@example.org sign --secret secret --day 19723 --domain EXAMPLE.ORG user@example.org
expect 2 "" sign --secret secret --day 19723 --key-number 12 user@example.org

# Verification with the strict window.
expect 0 "valid user@example.org" verify --secret secret --day 19723 prvs=073032b19c=user@example.org
expect 0 "valid user@example.org" verify --secret secret --day 19730 prvs=073032b19c=user@example.org
expect 1 "expired user@example.org" verify --secret secret --day 19731 prvs=073032b19c=user@example.org
expect 0 "valid user@example.org" verify --secret secret --day 19724 prvs=073032B19C=user@example.org
expect 1 "bad-hash user@example.org" verify --secret wrong --day 19724 prvs=073032b19c=user@example.org
# Exim accepts these (DDD >= today mod 1000); the draft window does not.
expect 1 "expired user@example.org" verify --secret secret --day 21000 prvs=09991d85ff=user@example.org
expect 1 "expired user@example.org" verify --secret secret --day 19723 prvs=0900fc1f48=user@example.org
expect 1 "not-tagged user@example.org" verify --secret secret --day 19723 user@example.org
expect 1 "foreign-form bob@example.com" verify --secret secret --day 19723 'btv1==0123456789==bob@example.com'
expect 1 "unknown-key user@example.org" verify --secret secret --key-number 3 --day 19723 prvs=073032b19c=user@example.org
expect 1 "malformed user" verify --secret secret --day 19723 user

# Key files: created 0600 on first use, then used to verify; a readable one is refused.
KEYS="$TMP/batv.keys"
tag=$("$BIN" batv sign --key-file "$KEYS" --day 20000 alice@example.org)
mode=$(stat -c %a "$KEYS")
[ "$mode" = 600 ] || { echo "FAIL: generated key file mode $mode"; failures=$((failures + 1)); }
case $tag in prvs=0007??????=alice@example.org) echo "ok: key-file tag $tag" ;;
  *) echo "FAIL: key-file tag '$tag'"; failures=$((failures + 1)) ;; esac
expect 0 "valid alice@example.org" verify --key-file "$KEYS" --day 20003 "$tag"
tag2=$("$BIN" batv sign --key-file "$KEYS" --day 20000 alice@example.org)
[ "$tag" = "$tag2" ] || { echo "FAIL: the key changed between runs"; failures=$((failures + 1)); }
chmod 644 "$KEYS"
expect 2 "" verify --key-file "$KEYS" --day 20003 "$tag"
grep -q "refused" "$TMP/stderr" || { echo "FAIL: no refusal message"; failures=$((failures + 1)); }
expect 2 "" verify --key-file "$TMP/absent.keys" --day 20003 "$tag"
# Secrets: 64 bytes accepted, 65 refused; exactly one key source.
K64=KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK
expect 0 prvs=0169a57f56=bounce@example.net sign --secret "$K64" --day 20162 bounce@example.net
expect 2 "" sign --secret "${K64}K" --day 20162 bounce@example.net
expect 2 "" sign --day 20162 bounce@example.net
chmod 600 "$KEYS"
expect 2 "" sign --secret s --key-file "$KEYS" --day 20162 bounce@example.net

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all batv CLI checks passed"
