#!/usr/bin/env bash
# milter_bench.sh BUILD_DIR [SECONDS]: milter_load against milter_testd (one
# server thread) at 1, 16 and 256 connections, plus --reconnect at 16, plus the
# server's CPU time per message (utime+stime from /proc, so the figure holds
# even on a loaded machine) and its RSS idle / with 1000 idle connections.
# TRANSPORT=unix: the server listens on a unix socket instead of loopback TCP.
# RATES: the offered rates of the open-loop runs (default "1000 2000 4000").
set -euo pipefail
b=$1 secs=${2:-5}
tck=$(getconf CLK_TCK)
out=$(mktemp)
sock=$(mktemp -u -t milter-bench-XXXXXX.sock)
if [[ ${TRANSPORT:-tcp} == unix ]]; then listen=unix:$sock; else listen=inet:127.0.0.1:0; fi
"$b/tests/milter_miltertest/milter_testd" --threads 1 --listen "$listen" > "$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out" "$sock"' EXIT
if [[ ${TRANSPORT:-tcp} == unix ]]; then
  for _ in $(seq 1 100); do [[ -S $sock ]] && break; sleep 0.05; done
  target=unix:$sock
else
  for _ in $(seq 1 100); do port=$(sed -n 's/^listening inet:127\.0\.0\.1://p' "$out"); [[ -n $port ]] && break; sleep 0.05; done
  target=inet:127.0.0.1:$port
fi
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
rss() { awk '/VmRSS/{print $2}' "/proc/$pid/status"; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc), server on $target"
echo "server RSS idle: $(rss) kB"
run() {
  local c0 c1 line msgs
  c0=$(cpu)
  line=$("$b/bench/milter_load" --connect "$target" --seconds "$secs" "$@")
  c1=$(cpu)
  msgs=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' <<<"$line")
  awk -v l="$line" -v d=$((c1 - c0)) -v t="$tck" -v m="$msgs" \
    'BEGIN { s = d / t; printf "%s server_cpu_s=%.2f msgs_per_server_cpu_s=%.0f\n", l, s, (s > 0 ? m / s : 0) }'
}
run --concurrency 1
run --concurrency 16
run --concurrency 256
run --concurrency 16 --reconnect
run --concurrency 1 --nagle     # Postfix leaves Nagle on for its milter sockets
run --concurrency 16 --nagle
# open loop: 16 connections offering a fixed rate (latency from the scheduled start)
for rate in ${RATES:-1000 2000 4000}; do run --concurrency 16 --rate "$rate"; done
"$b/bench/milter_load" --connect "$target" --idle 1000 --seconds 3 >/dev/null &
lp=$!
sleep 2
echo "server RSS with 1000 idle negotiated connections: $(rss) kB"
wait $lp
