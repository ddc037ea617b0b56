#!/usr/bin/env bash
# soak.sh BUILD_DIR [MINUTES] [RATE]: a soak of the real `backstop serve` on
# LMDB (a benchmark, not a test). bench/milter_load offers RATE messages/s
# (default 500) over 16 connections for MINUTES (default 60), one minute per
# run; after each minute it prints one line with the minute's latency
# percentiles and the server's RSS (all, and anonymous: the heap, without
# the pages of the LMDB maps it has touched), open descriptors, threads and the disk
# used by each LMDB environment (allocated blocks, not the sparse size).
# With OUTBOUND=1 (the default) every message is outbound mail, the path that
# must never lose a record: a ledger record committed (fsynced group commit)
# before each answer, the outbound limits counted (a rule that never trips)
# and the autoreply gate's look at the message. OUTBOUND=0 sends inbound
# mail (judged, inbound facts recorded). Private config on loopback ports in
# a temporary directory; the server is stopped by PID.
set -euo pipefail
b=$1 minutes=${2:-60} rate=${3:-500}
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d -t backstop-soak-XXXXXX)
read -r mport hport <<<"$(python3 "$here/e2e_util.py" ports 2)"
# serve will not keep root: as root, it drops to nobody after binding.
run_as=()
if [[ $(id -u) -eq 0 ]]; then run_as=(--run-as nobody); chmod 755 "$T"; fi
outbound=""
if [[ ${OUTBOUND:-1} == 1 ]]; then
  outbound='[outbound]
daemon_names = ["MTA"]
[[limits.rule]]
name = "soak"
scope = "sender_domain"
messages = "1000000000/1h"'
fi
cat >"$T/backstop.toml" <<CONF
[milter]
listen = "inet:127.0.0.1:$mport"
[policy]
listen = ""
[metrics]
listen = "127.0.0.1:$hport"
[state]
dir = "$T/state"
[domains]
local = ["example.net", "example.org"]
[log]
target = "$T/backstop.log"
$outbound
CONF
"${BACKSTOP:-$b/src/app/backstop}" serve --config "$T/backstop.toml" "${run_as[@]}" >"$T/stderr" 2>&1 </dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$T"' EXIT
python3 "$here/e2e_util.py" wait-port "$mport" 60 || { cat "$T/stderr" >&2; exit 1; }
kb() { du -sk "$1" 2>/dev/null | cut -f1; }
echo "soak: $minutes min at $rate msg/s offered, 16 connections, outbound=${OUTBOUND:-1}, cores $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %-9s %-8s %-8s %-8s %-8s %-7s %-9s %-8s %-4s %-4s %-10s %-10s %-9s\n' min messages msgs_s p50_us p99_us max_us errors rss_kb anon_kb fds thr state_kb counters_kb facts_kb
for m in $(seq 1 "$minutes"); do
  line=$("$b/bench/milter_load" --connect "inet:127.0.0.1:$mport" --seconds 60 --concurrency 16 --message-id --nagle \
    --rate "$rate")
  kill -0 $pid || { echo "soak: backstop exited" >&2; cat "$T/stderr" >&2; exit 1; }
  get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $line"; }
  printf '%-4s %-9s %-8s %-8s %-8s %-8s %-7s %-9s %-8s %-4s %-4s %-10s %-10s %-9s\n' "$m" "$(get messages)" "$(get msgs_per_s)" \
    "$(get p50_us)" "$(get p99_us)" "$(get max_us)" "$(get errors)" "$(awk '/VmRSS/{print $2}' /proc/$pid/status)" \
    "$(awk '/RssAnon/{print $2}' /proc/$pid/status)" \
    "$(ls /proc/$pid/fd | wc -l)" "$(awk '/Threads/{print $2}' /proc/$pid/status)" "$(kb "$T/state/data.mdb")" \
    "$(kb "$T/state/counters/data.mdb")" "$(kb "$T/state/facts/data.mdb")"
done
curl -sf "http://127.0.0.1:$hport/metrics" | grep -E '^backstop_(ledger|errors|store_write)' || true
