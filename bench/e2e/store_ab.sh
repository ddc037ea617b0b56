#!/usr/bin/env bash
# store_ab.sh BUILD_DIR [SECONDS] [RATE]: the real `backstop serve` on LMDB and
# on Redis in the same run (a benchmark, not a test), so that the two are
# compared on the same machine under the same load.
#
# For each backend and each kind of mail it starts serve (milter.threads = 1,
# private config and state in a temporary directory) and runs
# bench/milter_load with 16 connections:
#   closed loop for SECONDS (default 10): messages/s, messages per server
#   CPU-second (serve's utime+stime from /proc), p50/p99;
#   open loop at RATE messages/s offered (default 2000): p50/p99/max.
# Kinds of mail (KINDS="..." runs some of them):
#   inbound   plain mail with a Message-ID: classified, an inbound fact queued;
#   bounce    a DSN to a local user: classified, then correlated (the ledger
#             look-up: with Redis, on the milter thread's own connection);
#   outbound  mail from daemon_name MTA: the outbound limits (one rule), a
#             ledger record committed before each answer, the correspondent.
# Redis: a private redis-server 7 on a loopback port with the persistence
# docs/cluster.md requires (appendonly yes, appendfsync always); its own CPU
# per message and the commands per message (INFO commandstats) are printed
# too. APPENDFSYNC=everysec runs Redis with that setting instead (to see
# what the fsync of each transaction costs); REDIS_SOCKET=unix has serve use
# Redis's unix socket; SOFT_REDIS=1 puts the soft state (limit counters,
# inbound facts) on a second redis-server with appendfsync everysec
# (redis.soft_servers); MILTER_THREADS=N sets milter.threads (default 1);
# CONNECTIONS=N the milter connections of milter_load (default 16); BURST=1
# has each milter_load connection write its no-reply events back to back, as
# one Postfix process does (milter_load --burst); NAGLE=1 leaves Nagle's
# algorithm on for those connections, as Postfix and Sendmail do for their
# milter sockets (milter_load --nagle); METRICS=DIR keeps serve's
# /metrics after each backend's loops (DIR/KIND-BACKEND.prom: the decision
# and Redis round-trip histograms); LATENCY_LOG=DIR keeps each open loop's
# per-message latencies (DIR/KIND-BACKEND.txt, milter_load --latency-log;
# read them with `e2e_util.py latency-log FILE`).
# Every process is stopped by PID.
set -euo pipefail
b=$1 secs=${2:-10} rate=${3:-2000}
here=$(cd "$(dirname "$0")" && pwd)
tck=$(getconf CLK_TCK)
T=$(mktemp -d -t backstop-storeab-XXXXXX)
chmod 755 "$T"
run_as=()
if [[ $(id -u) -eq 0 ]]; then run_as=(--run-as nobody); fi
read -r rport mport hport softport <<<"$(python3 "$here/e2e_util.py" ports 4)"
mkdir -p "$T/redis"
redis-server --port "$rport" --bind 127.0.0.1 --unixsocket "$T/redis/sock" --unixsocketperm 777 --dir "$T/redis" \
  --save "" --appendonly yes --appendfsync "${APPENDFSYNC:-always}" --daemonize no --logfile "$T/redis/log" &
rpid=$!
spid="" softpid=""
if [[ -n ${SOFT_REDIS:-} ]]; then  # redis.soft_servers: a second redis-server, appendfsync everysec
  mkdir -p "$T/redis-soft"
  redis-server --port "$softport" --bind 127.0.0.1 --dir "$T/redis-soft" --save "" --appendonly yes \
    --appendfsync everysec --daemonize no --logfile "$T/redis-soft/log" &
  softpid=$!
fi
cleanup() {
  [[ -n $spid ]] && { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true; }
  kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null || true
  [[ -n $softpid ]] && { kill "$softpid" 2>/dev/null; wait "$softpid" 2>/dev/null || true; }
  rm -rf "$T"
}
trap cleanup EXIT
python3 "$here/e2e_util.py" wait-port "$rport" 30 || { cat "$T/redis/log" >&2; exit 1; }
[[ -z $softpid ]] || python3 "$here/e2e_util.py" wait-port "$softport" 30 || { cat "$T/redis-soft/log" >&2; exit 1; }
rcli() { redis-cli -p "$rport" "$@"; }
# REDIS_SOCKET=unix: serve reaches Redis on its unix socket instead of TCP
# loopback (Redis on the same host).
redis_at=127.0.0.1:$rport
[[ ${REDIS_SOCKET:-tcp} == unix ]] && redis_at=$T/redis/sock
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
calls() { rcli INFO commandstats | awk -F'[=,:]' '/^cmdstat_/ && $1 != "cmdstat_info" { n += $3 } END { print n + 0 }'; }

start_serve() {  # backend kind
  local backend=$1 kind=$2 state outbound=""
  if [[ $backend == redis ]]; then
    mkdir -p "$T/state-$kind"  # the BATV key file's directory
    chown "${run_as[1]:-$(id -un)}" "$T/state-$kind"
    state="backend = \"redis\"
dir = \"$T/state-$kind\"
[redis]
servers = [\"$redis_at\"]
${SOFT_REDIS:+soft_servers = [\"127.0.0.1:$softport\"]}
prefix = \"ab-$kind:\""
  else
    state="dir = \"$T/state-lmdb-$kind\""
  fi
  if [[ $kind == outbound ]]; then
    outbound='[outbound]
daemon_names = ["MTA"]
[[limits.rule]]
name = "bench"
scope = "sender_domain"
messages = "1000000000/1h"'
  fi
  cat >"$T/backstop.toml" <<CONF
[milter]
listen = "inet:127.0.0.1:$mport"
threads = ${MILTER_THREADS:-1}
[policy]
listen = ""
[metrics]
listen = "127.0.0.1:$hport"
[state]
$state
[domains]
local = ["example.test"]
[ledger]
warmup_days = 0
[log]
target = "$T/backstop.log"
$outbound
CONF
  "${BACKSTOP:-$b/src/app/backstop}" serve --config "$T/backstop.toml" "${run_as[@]}" >"$T/stderr" 2>&1 </dev/null &
  spid=$!
  python3 "$here/e2e_util.py" wait-port "$mport" 60 || { cat "$T/stderr" >&2; exit 1; }
}
stop_serve() { kill "$spid"; wait "$spid" 2>/dev/null || true; spid=""; }

get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $2"; }
echo "store_ab: ${secs}s closed loop and ${secs}s at $rate msg/s offered, 16 connections; cores $(nproc);" \
  "load $(cut -d' ' -f1-3 /proc/loadavg); $(redis-server --version | cut -d' ' -f1-3)"
printf '%-8s %-6s %-9s %-11s %-7s %-7s %-13s %-12s %-12s %-11s %-10s\n' kind store msgs_s msgs_cpu_s p50_us p99_us \
  open_p50_us open_p99_us open_max_us redis_cmds redis_cpu_us
for kind in ${KINDS:-inbound bounce outbound}; do
  flags=(--message-id)
  [[ $kind == bounce ]] && flags=(--message-id --bounce)
  [[ -n ${BURST:-} ]] && flags+=(--burst)
  [[ -n ${NAGLE:-} ]] && flags+=(--nagle)
  for backend in lmdb redis; do
    start_serve "$backend" "$kind"
    # A first second to warm up (connections, the first ledger record).
    "$b/bench/milter_load" --connect "inet:127.0.0.1:$mport" --seconds 1 --concurrency "${CONNECTIONS:-16}" "${flags[@]}" >/dev/null
    c0=$(cpu "$spid") r0=$(cpu "$rpid") k0=$(calls)
    closed=$("$b/bench/milter_load" --connect "inet:127.0.0.1:$mport" --seconds "$secs" --concurrency "${CONNECTIONS:-16}" "${flags[@]}")
    c1=$(cpu "$spid") r1=$(cpu "$rpid") k1=$(calls)
    log_flags=()
    [[ -z ${LATENCY_LOG:-} ]] || log_flags=(--latency-log "$LATENCY_LOG/$kind-$backend.txt")
    open=$("$b/bench/milter_load" --connect "inet:127.0.0.1:$mport" --seconds "$secs" --concurrency "${CONNECTIONS:-16}" --rate "$rate" \
      "${flags[@]}" "${log_flags[@]}")
    [[ -z ${METRICS:-} ]] || curl -s "http://127.0.0.1:$hport/metrics" >"$METRICS/$kind-$backend.prom" || true
    stop_serve
    msgs=$(get messages "$closed")
    errors=$(get errors "$closed")
    [[ ${errors:-0} == 0 ]] || echo "store_ab: $kind $backend: $errors errors" >&2
    cmds=- rcpu=-
    if [[ $backend == redis ]]; then
      cmds=$(awk -v a="$k0" -v b="$k1" -v m="$msgs" 'BEGIN { printf "%.2f", (b - a) / m }')
      rcpu=$(awk -v a="$r0" -v b="$r1" -v m="$msgs" -v t="$tck" 'BEGIN { printf "%.0f", (b - a) / t / m * 1e6 }')
    fi
    printf '%-8s %-6s %-9s %-11s %-7s %-7s %-13s %-12s %-12s %-11s %-10s\n' "$kind" "$backend" "$(get msgs_per_s "$closed")" \
      "$(awk -v a="$c0" -v b="$c1" -v m="$msgs" -v t="$tck" 'BEGIN { s = (b - a) / t; printf "%.0f", (s > 0 ? m / s : 0) }')" \
      "$(get p50_us "$closed")" "$(get p99_us "$closed")" "$(get p50_us "$open")" "$(get p99_us "$open")" \
      "$(get max_us "$open")" "$cmds" "$rcpu"
  done
done
echo "Redis commands, whole run:"
rcli INFO commandstats | sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),.*/  \1 \2/p' | sort -k2 -nr | head -12
