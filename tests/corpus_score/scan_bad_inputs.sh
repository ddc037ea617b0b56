#!/usr/bin/env bash
# scan_bad_inputs.sh BACKSTOP
# `backstop scan` over a truncated message, a binary file, a 2 GiB
# single-message file (sparse: a header then a hole) and a good message:
# each bad file gets one clear error line on stderr, the scan goes on to the
# next path and exits 0, the good message is classified, and peak RSS stays
# bounded (limit below; the figure is printed).
set -euo pipefail
bin=${1:?usage: scan_bad_inputs.sh BACKSTOP}
# ASan's own overhead is included; the release build measures far less.
max_rss_kib=${SCAN_MAX_RSS_KIB:-786432}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/backstop-bad-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# 1. Truncated: a DSN cut inside its header section (no body, no end).
printf 'From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail Returned to Sender\nContent-Type: multipart/report; report-type=delivery-s' >"$tmp/1-truncated.eml"
# 2. Binary: bytes that hold no header section.
python3 -c "import sys; sys.stdout.buffer.write(bytes((i * 131 + 7) % 256 for i in range(65536)))" >"$tmp/2-binary.bin"
# 3. Huge: a 2 GiB single message, sparse (no disk use): header, then zeros.
printf 'From: someone@example.com\nSubject: huge\n\n' >"$tmp/3-huge.eml"
truncate -s 2G "$tmp/3-huge.eml"
# 4. A good message after them.
cat >"$tmp/4-good.eml" <<'MSG'
From: Bob <bob@example.com>
To: alice@example.org
Subject: lunch
Date: Wed, 2 Jul 2003 09:00:00 +0000
Message-ID: <lunch@example.com>

Shall we meet on Thursday?
MSG

rc=0
/usr/bin/time -v -o "$tmp/time.txt" "$bin" scan --format jsonl --no-progress --jobs 2 \
  "$tmp/1-truncated.eml" "$tmp/2-binary.bin" "$tmp/3-huge.eml" "$tmp/4-good.eml" \
  >"$tmp/out.jsonl" 2>"$tmp/err.txt" || rc=$?

echo "--- stderr"; cat "$tmp/err.txt"
echo "--- stdout"; cut -c1-200 "$tmp/out.jsonl"
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")
secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp/time.txt")
echo "--- exit $rc, peak RSS ${rss} KiB (limit ${max_rss_kib} KiB), wall ${secs}"

fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }
check "exit status 0" '[[ $rc -eq 0 ]]'
check "truncated file reported on stderr" 'grep -q "1-truncated.eml #0: " "$tmp/err.txt"'
check "binary file reported on stderr" 'grep -q "2-binary.bin #0: " "$tmp/err.txt"'
check "2 GiB file reported as too large" 'grep -q "3-huge.eml #0: too-large" "$tmp/err.txt"'
check "exactly one error line per bad file" '[[ $(grep -c "^backstop scan: " "$tmp/err.txt") -eq 3 ]]'
check "good message after them classified" 'grep -q "\"file\":\"$tmp/4-good.eml\",\"index\":0,\"kind\":\"none\"" "$tmp/out.jsonl"'
check "binary file has no result line" '! grep -q "2-binary.bin" "$tmp/out.jsonl"'
check "peak RSS bounded" '[[ -n $rss && $rss -le $max_rss_kib ]]'
exit $fail
