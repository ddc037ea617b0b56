#!/usr/bin/env bash
# callgrind_serve.sh BUILD_DIR [SECONDS]: instructions per message on the
# milter thread of `backstop serve` under callgrind. The daemon runs with a
# private configuration (as milter_load_backstop.sh: state in a temporary
# directory, milter.threads = 1, no DNSBL, no limits); bench/milter_load sends
# it messages of 32 headers and a 5,000-byte body, a new connection each, at
# 100 per second for SECONDS (default 5). Prints milter_load's line, the
# milter thread's instruction count (Ir) in all and per message, and the
# inclusive Ir per message of the functions named in FUNCS (a regex,
# callgrind_annotate names). The output files stay in OUT (default a
# temporary directory that is removed). Stopped by PID.
# BACKSTOP=BINARY runs that daemon instead of BUILD_DIR's (for A/B runs).
set -euo pipefail
b=$1 secs=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d -t backstop-cg-XXXXXX)
# serve will not keep root: as root it binds, then drops to nobody (which
# must reach its state here).
run_as=()
if [[ $(id -u) -eq 0 ]]; then run_as=(--run-as nobody); chmod 755 "$T"; fi
out=${OUT:-$T/out}
mkdir -p "$out"
# callgrind writes its profiles at exit, as the user the daemon dropped to.
[[ ${#run_as[@]} -eq 0 ]] || chown nobody "$out"
read -r mport hport <<<"$(python3 "$here/e2e_util.py" ports 2)"
cat >"$T/backstop.toml" <<CONF
[milter]
listen = "inet:127.0.0.1:$mport"
threads = 1
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
level = "info"
CONF
valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/callgrind.out.%p" \
  "${BACKSTOP:-$b/src/app/backstop}" serve "${run_as[@]}" --config "$T/backstop.toml" >"$T/stderr" 2>&1 </dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$T"' EXIT
python3 "$here/e2e_util.py" wait-port "$mport" 600 || { cat "$T/stderr" >&2; exit 1; }
line=$("$b/bench/milter_load" --connect "inet:127.0.0.1:$mport" --reconnect --rate 100 --headers 32 \
  --body-bytes 5000 --seconds "$secs")
echo "$line"
kill -TERM "$pid"
wait "$pid" || true
msgs=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' <<<"$line")
# The milter thread: the thread whose profile holds the end-of-message handler.
f=$(grep -l 'on_eom' "$out"/callgrind.out.*-* | head -1)
total=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$f")
echo "milter thread: Ir=$total messages=$msgs Ir_per_message=$((total / msgs)) ($f)"
if [[ -n ${FUNCS:-} ]]; then
  callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$f" 2>/dev/null |
    grep -E "$FUNCS" | awk -v m="$msgs" '{ gsub(",", "", $1); printf "%10d per message  %s\n", $1 / m, $0 }' || true
fi
