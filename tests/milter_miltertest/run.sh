#!/usr/bin/env bash
# run.sh TESTD HOSTILE SRCDIR: milter integration on loopback.
# For each daemon mode: start milter_testd on a random free port (port 0,
# read back from its stdout), run the miltertest scripts and the hostile
# raw-socket client against it, check the daemon survived and still serves a
# normal conversation, then stop it by PID with SIGTERM and require exit 0.
set -euo pipefail
testd=$1 hostile=$2 src=$3
command -v miltertest >/dev/null || { echo "run.sh: miltertest not installed (scripts/install-deps.sh)" >&2; exit 1; }
work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start() {  # start ARGS...: sets $pid and $port
  : > "$work/out"
  "$testd" --listen inet:127.0.0.1:0 "$@" > "$work/out" 2> "$work/err" &
  pid=$!
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^listening inet:127\.0\.0\.1://p' "$work/out")
    [[ -n $port ]] && return 0
    sleep 0.05
  done
  echo "run.sh: milter_testd did not start"; cat "$work/err"; exit 1
}
stop() {
  kill -0 "$pid" || { echo "run.sh: milter_testd died"; cat "$work/err"; exit 1; }
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=
  cat "$work/err"
  [[ $rc -eq 0 ]] || { echo "run.sh: milter_testd exit status $rc"; exit 1; }
}
mt() { echo "== miltertest $1 (port $port)"; miltertest -D port="$port" -s "$src/$1"; }

# 1. default mode: no-reply flags where the filter has nothing to say
start
mt quiet.lua
mt abort.lua
echo "== hostile client"
MILTER_PORT=$port "$hostile" --gtest_filter='-*Timeout*'
mt quiet.lua   # still serves a normal conversation after the abuse
stop

# 2. every event decided, decisions delayed 300 ms on another thread, PROGRESS every 50 ms
start --all-events --delay-ms 300 --progress-ms 50
mt events.lua
stop

# 3. short timeouts: a slowloris peer is cut off, the daemon goes on
start --packet-timeout-ms 500 --idle-timeout-ms 1500
echo "== hostile client, timeouts"
MILTER_PORT=$port MILTER_SHORT_TIMEOUTS=1 "$hostile" --gtest_filter='*Timeout*'
mt quiet.lua
stop
echo "run.sh: all milter integration checks passed"
