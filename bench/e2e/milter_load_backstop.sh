#!/usr/bin/env bash
# milter_load_backstop.sh BUILD_DIR [SECONDS]: bench/milter_load against the real
# `backstop serve` (not milter_testd): classification, correlation, policy, the
# decision log line and /metrics on every message. Private config (state in a
# temporary directory, milter and metrics on free loopback ports),
# milter.threads = 1 so that "messages per server CPU-second" is a per-core
# figure; the server's CPU time (utime+stime) is read from /proc around each
# run, as bench/milter_bench.sh does for milter_testd. Stopped by PID.
# BACKSTOP=BINARY runs that daemon instead of BUILD_DIR's (for A/B runs).
# TRANSPORT=unix puts the milter on a unix socket in the temporary directory
# (Postfix's `unix:` milter endpoint) instead of loopback TCP.
set -euo pipefail
b=$1 secs=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
tck=$(getconf CLK_TCK)
T=$(mktemp -d -t backstop-mload-XXXXXX)
# serve will not keep root: as root it binds, then drops to nobody (which
# must reach its state here).
run_as=()
if [[ $(id -u) -eq 0 ]]; then run_as=(--run-as nobody); chmod 755 "$T"; fi
read -r mport hport <<<"$(python3 "$here/e2e_util.py" ports 2)"
if [[ ${TRANSPORT:-tcp} == unix ]]; then
  mlisten="unix:$T/milter.sock"
else
  mlisten="inet:127.0.0.1:$mport"
fi
cat >"$T/backstop.toml" <<CONF
[milter]
listen = "$mlisten"
threads = ${THREADS:-1}
[policy]
listen = ""
[metrics]
listen = "127.0.0.1:$hport"
[state]
dir = "$T/state"
[domains]
local = ["example.net"]
[log]
target = "$T/backstop.log"
level = "${LOG_LEVEL:-info}"
CONF
"${BACKSTOP:-$b/src/app/backstop}" serve "${run_as[@]}" --config "$T/backstop.toml" >"$T/stderr" 2>&1 </dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$T"' EXIT
if [[ ${TRANSPORT:-tcp} == unix ]]; then
  for _ in $(seq 1 600); do [[ -S $T/milter.sock ]] && break; sleep 0.1; done
  [[ -S $T/milter.sock ]] || { cat "$T/stderr" >&2; exit 1; }
else
  python3 "$here/e2e_util.py" wait-port "$mport" 60 || { cat "$T/stderr" >&2; exit 1; }
fi
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
rss() { awk '/VmRSS/{print $2}' "/proc/$pid/status"; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc), backstop serve threads=${THREADS:-1}, milter on $mlisten"
echo "server RSS idle: $(rss) kB"
run() {
  local c0 c1 line msgs
  c0=$(cpu)
  line=$("$b/bench/milter_load" --connect "$mlisten" --seconds "$secs" "$@")
  c1=$(cpu)
  msgs=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' <<<"$line")
  awk -v l="$line" -v d=$((c1 - c0)) -v t="$tck" -v m="$msgs" -v la="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { s = d / t; printf "%s server_cpu_s=%.2f msgs_per_server_cpu_s=%.0f load1=%s\n", l, s, (s > 0 ? m / s : 0), la }'
}
run --concurrency 1
run --concurrency 16
run --concurrency 256
run --concurrency 16 --reconnect
run --concurrency 1 --nagle --message-id   # as Postfix: Nagle on, every message with a Message-ID
run --concurrency 16 --nagle --message-id
# open loop: 16 connections offering a fixed rate (latency from the scheduled start)
for rate in ${RATES:-1000 2000 4000}; do run --concurrency 16 --message-id --rate "$rate"; done
echo "server RSS after the runs: $(rss) kB"
grep -m1 'role=' "$T/backstop.log" | sed 's/^\[[^]]*\] //' || true
