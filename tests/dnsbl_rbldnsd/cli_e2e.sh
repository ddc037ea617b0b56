#!/usr/bin/env bash
# cli_e2e.sh BACKSTOP: the trap operator's workflow through the CLI, against a
# real rbldnsd on loopback:
#   trap ingest (a bounce via our relay) -> dnsbl list/show -> dnsbl export ->
#   rbldnsd -> dnsbl query (our client) answers 554 -> delist -> re-export ->
#   the same rbldnsd process stops listing it.
set -euo pipefail
bin=$1
work=$(mktemp -d /tmp/dnsbl-cli-XXXXXX)
pid=
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $work/rbldnsd.out ]] && cat "$work/rbldnsd.out" >&2; exit 1; }

mkdir -p "$work/zones" && chmod 755 "$work" "$work/zones"
cat > "$work/backstop.toml" <<'TOML'
relays.ours = ["10.0.0.0/8"]
[trap]
allow = ["192.0.2.0/24"]
domains = ["trap.example"]
TOML
cat > "$work/bounce.eml" <<'MSG'
Received: from mx1.trap.example (mx1.trap.example [10.0.0.5])
	by box.trap.example (Postfix) with ESMTP id B2; Mon, 2 Nov 2026 10:00:02 +0000
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
sed 's/198\.51\.100\.23/192.0.2.99/' "$work/bounce.eml" > "$work/allowed.eml"

B=("$bin")
common=(--config "$work/backstop.toml" --state "$work/state")

out=$("${B[@]}" trap "${common[@]}" ingest "$work/bounce.eml" "$work/allowed.eml")
echo "$out"
grep -q "bounce recorded 198.51.100.23" <<<"$out" || fail "bounce not recorded"
grep -q "bounce recorded 192.0.2.99" <<<"$out" || fail "allowlisted bounce not recorded as a hit"

list=$("${B[@]}" dnsbl "${common[@]}" list)
echo "$list"
grep -q "^198.51.100.23 .*listed" <<<"$list" || fail "198.51.100.23 not listed"
grep -q "192.0.2.99" <<<"$list" && fail "allowlisted 192.0.2.99 is listed"
"${B[@]}" dnsbl "${common[@]}" show 198.51.100.23 | grep -q "message-id=<bounce-77@bouncer.example.net>" \
  || fail "show lacks the evidence"
show=$("${B[@]}" dnsbl "${common[@]}" show 198.51.100.23)
echo "$show"
grep -q "^    Subject: Undelivered Mail Returned to Sender" <<<"$show" || fail "show lacks the evidence headers"
grep -q "for <trap@\[trap domain\]>" <<<"$show" || fail "the trap domain is not redacted"
grep -q "trap\.example" <<<"$show" && fail "show reveals the trap domain"

"${B[@]}" dnsbl "${common[@]}" export --zone bl.test --out "$work/zones" --url https://bl.test/lookup
grep -q "^198.51.100.23 :127.0.0.2:198.51.100.23 sent backscatter (bounce x1)" "$work/zones/bl.test.ip4set" \
  || fail "export lacks the listing"
grep -q "^127.0.0.2 " "$work/zones/bl.test.ip4set" || fail "no RFC 5782 test entry"
grep -q "^127.0.0.1" "$work/zones/bl.test.ip4set" && fail "127.0.0.1 exported"

port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rbldnsd -n -r "$work/zones" -b "127.0.0.1/$port" -c 1s -t 60 \
  bl.test:ip4set:bl.test.ip4set bl.test:ip6trie:bl.test.ip6trie > "$work/rbldnsd.out" 2>&1 &
pid=$!
for _ in $(seq 50); do
  [[ $(dig @127.0.0.1 -p "$port" +short +norecurse +notcp 2.0.0.127.bl.test A 2>/dev/null) == 127.0.0.2 ]] && break
  sleep 0.1
done

q=("${B[@]}" dnsbl "${common[@]}" query --zone bl.test --resolver "127.0.0.1:$port")
ans=$("${q[@]}" 198.51.100.23) || fail "query: not listed: $ans"
echo "$ans"
grep -q "^smtp: 554 5.7.1 Service unavailable; client \[198.51.100.23\] blocked using bl.test; 198.51.100.23 sent backscatter" <<<"$ans" \
  || fail "no 554 with the listing's text"
if "${q[@]}" 127.0.0.1 >/dev/null; then fail "127.0.0.1 listed"; fi

sleep 1.1  # a new mtime second for rbldnsd's check
"${B[@]}" dnsbl "${common[@]}" delist 198.51.100.23 --reason "fixed" | grep -q delisted || fail "delist"
"${B[@]}" dnsbl "${common[@]}" export --zone bl.test --out "$work/zones"
for _ in $(seq 100); do
  "${q[@]}" 198.51.100.23 >/dev/null || break
  sleep 0.1
done
if "${q[@]}" 198.51.100.23; then fail "still listed after delist + export"; fi
kill -0 "$pid" || fail "rbldnsd restarted or died"
echo "PASS"
