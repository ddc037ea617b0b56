#!/usr/bin/env bash
# milter_ab.sh BASE_BACKSTOP NEW_BACKSTOP MILTER_LOAD: paired A/B of two
# `backstop serve` binaries. Both daemons run at once (milter.threads = 1,
# private configs and state in a temporary directory, loopback or unix
# sockets), and milter_load runs alternate between them, so machine noise
# falls on both alike. Prints one line per run: messages/s, p99 and messages
# per server CPU-second (the daemon's utime+stime from /proc).
# Environment: TRANSPORT=tcp|unix, ROUNDS (5), CONCS ("1 16"), SECS (4),
# EXTRA (more milter_load options, e.g. "--nagle --message-id").
set -euo pipefail
base_bin=$1 new_bin=$2 load=$3
here=$(cd "$(dirname "$0")" && pwd)
tck=$(getconf CLK_TCK)
T=$(mktemp -d -t backstop-ab-XXXXXX)
chmod 755 "$T"
declare -A pid mlisten
for which in base new; do
  if [[ $which == base ]]; then bin=$base_bin; else bin=$new_bin; fi
  read -r mport <<<"$(python3 $here/e2e_util.py ports 1)"
  mkdir -p $T/$which
  if [[ ${TRANSPORT:-tcp} == unix ]]; then l="unix:$T/$which/m.sock"; else l="inet:127.0.0.1:$mport"; fi
  cat >$T/$which/c.toml <<CONF
[milter]
listen = "$l"
threads = 1
[policy]
listen = ""
[metrics]
listen = ""
[state]
dir = "$T/$which/state"
[domains]
local = ["example.net"]
[log]
target = "$T/$which/log"
CONF
  # A binary with the privilege drop will not keep root: as root, it drops
  # to nobody after binding (an older one runs as root).
  run_as=()
  if [[ $(id -u) -eq 0 ]] && $bin serve --help 2>/dev/null | grep -q -- --run-as; then run_as=(--run-as nobody); fi
  $bin serve "${run_as[@]}" --config $T/$which/c.toml >$T/$which/err 2>&1 </dev/null &
  pid[$which]=$!; mlisten[$which]=$l
done
trap 'kill ${pid[base]} ${pid[new]} 2>/dev/null; wait 2>/dev/null; rm -rf $T' EXIT
for which in base new; do
  l=${mlisten[$which]}
  for _ in $(seq 1 100); do
    if [[ $l == unix:* ]]; then [[ -S ${l#unix:} ]] && break; else python3 "$here/e2e_util.py" wait-port "${l##*:}" 1 2>/dev/null && break; fi
    sleep 0.1
  done
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
for round in $(seq 1 "${ROUNDS:-5}"); do
  for which in base new; do
    for c in ${CONCS:-1 16}; do
      c0=$(cpu ${pid[$which]})
      line=$("$load" --connect "${mlisten[$which]}" --seconds ${SECS:-4} --concurrency $c ${EXTRA:-})
      c1=$(cpu ${pid[$which]})
      msgs=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' <<<"$line")
      awk -v w=$which -v c=$c -v r=$round -v l="$line" -v d=$((c1-c0)) -v t=$tck -v m=$msgs 'BEGIN{s=d/t; split(l,a," "); for(i in a) if (a[i] ~ /^(msgs_per_s|p99_us)=/) x=x" "a[i]; printf "round=%d %s conc=%d%s per_server_cpu_s=%.0f\n", r, w, c, x, m/s}'
    done
  done
done
