#!/usr/bin/env bash
# run.sh BACKSTOP_BINARY [MESSAGE_FILE]
#
# End-to-end throughput: smtp-source -> private Postfix (smtpd with or without a
# milter) -> smtp-sink, for the scenarios none, backstop, backstop-unix (the same
# daemon on a unix socket), testd (milter_testd --minimal: the cheapest milter
# taking the same events, the floor of what any milter costs Postfix; set
# TESTD to its binary), rspamd (rspamd_proxy in milter mode + one normal
# worker) and spamass-milter (+ spamd). Root on
# Debian 12; peers from bench/e2e/install-peers.sh. Everything listens on
# 127.0.0.1 (random free ports) and lives in a temporary directory; every
# daemon started here is stopped by PID. The system Postfix is not touched.
#
# Payloads: "synthetic" is smtp-source's own message (-l $SIZE bytes of body),
# "corpus" is MESSAGE_FILE (an RFC 5322 message, e.g. a ham message from
# ../shared/corpora; a leading mbox "From " line is dropped) sent with -F.
#
# One smtp-sink runs for the whole benchmark (-c: it prints its running
# message count); a run ends when the sink has counted N more messages, so the
# time from the start of smtp-source to then is the chain's time for N
# messages. CPU time of the filter's processes and of Postfix (master and
# every child, reaped children included) is read from /proc around the run.
# Before each measured run the scenario is switched (postconf + postfix
# reload) and WARMUP messages are sent; the filter's own message counter must
# grow by exactly N in the run, or the run is marked failed.
#
# Environment: N (5000), N_SPAMASS (N/25: spamd scans ~3 msgs/s here), SIZE
# (4096), SESSIONS (16), RUNS (3), WARMUP (100), WARMUP_SPAMASS (20), SCENARIOS ("none backstop rspamd
# spamass-milter"), PAYLOADS ("synthetic corpus"), OUT (results directory,
# default ./e2e-results-DATE), BACKSTOP_THREADS (milter.threads of backstop
# serve; 0 = one per core), PEERS_WORK (where install-peers.sh unpacked
# rspamd), KEEP=1 keeps the temporary directory, TIMEOUT per run (900 s).
# Results: $OUT/results.tsv (one line per run), $OUT/summary.md (medians),
# $OUT/rss.txt (resident memory of each filter after the runs),
# $OUT/env.txt (versions, load), $OUT/backstop-threads.tsv (per thread of
# backstop serve: CPU seconds, voluntary/involuntary context switches).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
util() { python3 "$here/e2e_util.py" "$@"; }
backstop=$(realpath "${1:?usage: run.sh BACKSTOP_BINARY [MESSAGE_FILE]}")
message=${2:-}
N=${N:-5000}
N_SPAMASS=${N_SPAMASS:-$((N / 25))}
WARMUP_SPAMASS=${WARMUP_SPAMASS:-20}
SIZE=${SIZE:-4096}
SESSIONS=${SESSIONS:-16}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-100}
TIMEOUT=${TIMEOUT:-900}
SCENARIOS=${SCENARIOS:-"none backstop rspamd spamass-milter"}
PAYLOADS=${PAYLOADS:-"synthetic corpus"}
[[ -n $message ]] || PAYLOADS=${PAYLOADS//corpus/}
OUT=$(realpath -m "${OUT:-e2e-results-$(date -u +%Y%m%dT%H%M%S)}")
peers=${PEERS_WORK:-/var/tmp/backstop-peers}
rroot=$peers/rspamd-root
FROM=alice@sender.example
RCPT=bob@example.net

[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root (private Postfix)" >&2; exit 2; }
for c in postfix postconf smtp-source smtp-sink; do
  command -v "$c" >/dev/null || { echo "run.sh: $c missing (bench/e2e/install-peers.sh)" >&2; exit 2; }
done
mkdir -p "$OUT"
T=$(mktemp -d -t backstop-e2e-XXXXXX)
chmod 755 "$T"
# serve will not keep root: as root it binds, then drops to nobody.
run_as=()
[[ $(id -u) -eq 0 ]] && run_as=(--run-as nobody)
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }

read -r SMTP SINK BMIL BMET RPROXY RNORM RCTL SPAMD SAMIL BUMET TMIL <<<"$(util ports 11)"
pids=()
sink_pid=
cleanup() {
  set +e
  if [[ -f $T/pf/spool/pid/master.pid ]]; then
    mp=$(awk '{print $1}' "$T/pf/spool/pid/master.pid")
    postfix -c "$T/pf/etc" stop >/dev/null 2>&1
    for _ in $(seq 50); do kill -0 "$mp" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$mp" 2>/dev/null
  fi
  [[ -n $sink_pid ]] && kill "$sink_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

# ------------------------------------------------------------------ Postfix --
pf=$T/pf
mkdir -p "$pf/etc" "$pf/spool" "$pf/data"
chown postfix "$pf/data"
cat >"$pf/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $pf/spool
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.bench.test
mydomain = bench.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
relayhost = [127.0.0.1]:$SINK
default_transport = smtp
relay_transport = smtp
local_transport = error:5.1.1 no local delivery
smtp_dns_support_level = disabled
smtputf8_enable = no
biff = no
maillog_file = $pf/maillog
maillog_file_prefixes = $pf
default_process_limit = 200
smtpd_error_sleep_time = 0
# a delivery that fails (it should not) is retried at once, not after 300 s
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtpd_milters =
non_smtpd_milters =
milter_default_action = tempfail
milter_protocol = 6
milter_connect_timeout = 5s
milter_command_timeout = 30s
milter_content_timeout = 120s
CONF
{
  echo "127.0.0.1:$SMTP inet n - n - - smtpd"
  cat <<'MASTER'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
MASTER
} >"$pf/etc/master.cf"
postfix -c "$pf/etc" check
touch "$pf/spool/quick-start"
postfix -c "$pf/etc" start
pf_master() { awk '{print $1}' "$pf/spool/pid/master.pid"; }
util wait-port "$SMTP" 30 || { echo "postfix did not start" >&2; tail "$pf/maillog" >&2; exit 1; }

# -------------------------------------------------------------------- peers --
# run_backstop DIR MILTER_LISTEN METRICS_PORT: backstop serve with a private
# config and state in DIR; its PID goes to $started (and to pids, for the
# cleanup). Waits for /metrics, and for the socket file when MILTER_LISTEN is
# unix:PATH.
run_backstop() {
  local d=$1 listen=$2 metrics=$3
  mkdir -p "$d/state"
  chmod 755 "$d"  # Postfix's smtpd (user postfix) connects to a unix socket here
  cat >"$d/backstop.toml" <<CONF
[milter]
listen = "$listen"
socket_mode = "0666"
threads = ${BACKSTOP_THREADS:-0}
[policy]
listen = ""
[metrics]
listen = "127.0.0.1:$metrics"
[state]
dir = "$d/state"
[domains]
local = ["example.net"]
[log]
target = "$d/backstop.log"
level = "info"
CONF
  "$backstop" serve "${run_as[@]}" --config "$d/backstop.toml" >"$d/stderr" 2>&1 </dev/null &
  started=$!
  pids+=("$started")
  util wait-port "$metrics" 60 || { cat "$d/stderr" >&2; exit 1; }
  if [[ $listen == unix:* ]]; then
    for _ in $(seq 100); do [[ -S ${listen#unix:} ]] && break; sleep 0.1; done
    [[ -S ${listen#unix:} ]] || { echo "backstop: no socket ${listen#unix:}" >&2; cat "$d/stderr" >&2; exit 1; }
  else
    util wait-port "${listen##*:}" 60 || { cat "$d/stderr" >&2; exit 1; }
  fi
}

start_backstop() {
  run_backstop "$T/backstop" "inet:127.0.0.1:$BMIL" "$BMET"
  bs_pid=$started
}

# The same daemon on a unix socket (Postfix: smtpd_milters = unix:PATH), its
# own process and state, so that its CPU is counted apart from the TCP one.
start_backstop_unix() {
  run_backstop "$T/backstop-unix" "unix:$T/backstop-unix/milter.sock" "$BUMET"
  bu_pid=$started
}

start_testd() {
  [[ -x ${TESTD:-} ]] || { echo "scenario testd needs TESTD=path/to/milter_testd" >&2; exit 2; }
  "$TESTD" --minimal --threads "${BACKSTOP_THREADS:-0}" --listen "inet:127.0.0.1:$TMIL" \
    >"$T/testd.out" 2>"$T/testd.err" </dev/null &
  td_pid=$!
  pids+=("$td_pid")
  util wait-port "$TMIL" 30 || { cat "$T/testd.err" >&2; exit 1; }
}

start_rspamd() {
  local run=$T/rspamd
  mkdir -p "$run/local/override.d" "$run/local/local.d" "$run/db"
  export LD_LIBRARY_PATH=$rroot/usr/lib/x86_64-linux-gnu:$rroot/usr/lib/rspamd
  cat >"$run/local/override.d/worker-normal.inc" <<CONF
bind_socket = "127.0.0.1:$RNORM";
count = ${RSPAMD_WORKERS:-1};
mime = true;
CONF
  cat >"$run/local/override.d/worker-proxy.inc" <<CONF
bind_socket = "127.0.0.1:$RPROXY";
milter = yes;
timeout = 120s;
upstream "local" {
  default = yes;
  hosts = "127.0.0.1:$RNORM";
}
count = 1;
max_retries = 5;
discard_on_reject = false;
quarantine_on_reject = false;
spam_header = "X-Spam";
reject_message = "Spam message rejected";
CONF
  cat >"$run/local/override.d/worker-controller.inc" <<CONF
bind_socket = "127.0.0.1:$RCTL";
count = 1;
password = "q1";
secure_ip = "127.0.0.1";
static_dir = "\${WWWDIR}";
CONF
  echo 'enabled = false;' >"$run/local/override.d/worker-fuzzy.inc"
  # No network here: DNS goes to a closed loopback port (fails at once), and
  # the modules that exist only to query remote services are off.
  cat >"$run/local/override.d/options.inc" <<CONF
dns { nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 0; }
tempdir = "$run";
CONF
  for m in rbl surbl spf dmarc asn fuzzy_check emails rspamd_update; do
    echo 'enabled = false;' >"$run/local/local.d/$m.conf"
  done
  cat >"$run/local/override.d/logging.inc" <<CONF
type = "file";
filename = "$run/rspamd.log";
level = "warning";
CONF
  local share=$rroot/usr/share/rspamd
  "$rroot/usr/bin/rspamd" -f -i -u root -g root -c "$rroot/etc/rspamd/rspamd.conf" \
    --var "CONFDIR=$rroot/etc/rspamd" --var "LOCAL_CONFDIR=$run/local" \
    --var "SHAREDIR=$share" --var "RULESDIR=$share/rules" --var "LUALIBDIR=$share/lualib" \
    --var "PLUGINSDIR=$share/plugins" --var "WWWDIR=$share/www" --var "DBDIR=$run/db" \
    --var "RUNDIR=$run" --var "LOGDIR=$run" -p "$run/rspamd.pid" >"$run/stdout.log" 2>&1 &
  rs_pid=$!
  pids+=("$rs_pid")
  unset LD_LIBRARY_PATH
  for p in $RPROXY $RNORM $RCTL; do
    util wait-port "$p" 300 || { cat "$run/stdout.log" "$run/rspamd.log" >&2; exit 1; }
  done
  # The hyperscan databases are compiled in the background after start; until
  # they are loaded the regexps run on PCRE. Wait for the cache files to settle.
  local last=-1 now i
  for i in $(seq 1 120); do
    now=$(find "$run/db" -name '*.hs*' 2>/dev/null | wc -l)
    if ((now > 0 && now == last)); then break; fi
    last=$now
    sleep 5
  done
  log "rspamd: $(find "$run/db" -name '*.hs*' | wc -l) hyperscan cache files after $((i * 5)) s"
}

start_spamass() {
  local d=$T/spamass
  mkdir -p "$d"
  # -L: local tests only (no DNS/network tests); no Bayes, no per-user config.
  spamd -L -x -u nobody --listen "127.0.0.1:$SPAMD" -A 127.0.0.1 -r "$d/spamd.pid" \
    -s "$d/spamd.log" --cf='use_bayes 0' --cf='bayes_auto_learn 0' >"$d/spamd.stderr" 2>&1 &
  sd_pid=$!
  pids+=("$sd_pid")
  util wait-port "$SPAMD" 300 || { cat "$d/spamd.stderr" "$d/spamd.log" >&2; exit 1; }
  # -m: headers only (no body or Subject rewriting); no -i, so loopback is scanned.
  spamass-milter -p "inet:$SAMIL@127.0.0.1" -m -- -d 127.0.0.1 -p "$SPAMD" >"$d/milter.stderr" 2>&1 &
  sm_pid=$!
  pids+=("$sm_pid")
  util wait-port "$SAMIL" 30 || { cat "$d/milter.stderr" >&2; exit 1; }
}

milter_of() {
  case $1 in
    none) echo "" ;;
    backstop) echo "inet:127.0.0.1:$BMIL" ;;
    backstop-unix) echo "unix:$T/backstop-unix/milter.sock" ;;
    testd) echo "inet:127.0.0.1:$TMIL" ;;
    rspamd) echo "inet:127.0.0.1:$RPROXY" ;;
    spamass-milter) echo "inet:127.0.0.1:$SAMIL" ;;
  esac
}
filter_cpu() {
  case $1 in
    none) echo 0 ;;
    backstop) util cpu "$bs_pid" ;;
    backstop-unix) util cpu "$bu_pid" ;;
    testd) util cpu "$td_pid" ;;
    rspamd) util cpu "$rs_pid" ;;
    spamass-milter) util cpu "$sd_pid" "$sm_pid" ;;
  esac
}
filter_count() {  # messages the filter has seen so far
  case $1 in
    none) echo 0 ;;
    backstop) util backstop-count "http://127.0.0.1:$BMET/metrics" ;;
    backstop-unix) util backstop-count "http://127.0.0.1:$BUMET/metrics" ;;
    testd) echo 0 ;;  # no counter: the run's count check skips it
    rspamd) util rspamd-scanned "http://127.0.0.1:$RCTL/stat" ;;
    spamass-milter) grep -c 'spamd: result:' "$T/spamass/spamd.log" || true ;;
  esac
}

smtp-sink -u postfix -c "127.0.0.1:$SINK" 256 >"$T/sink.out" 2>"$T/sink.err" &
sink_pid=$!
util wait-port "$SINK" 10 || { cat "$T/sink.err" >&2; exit 1; }
sunk() { tail -c 200 "$T/sink.out" | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1; }

for sc in $SCENARIOS; do
  case $sc in
    none) ;;
    backstop) start_backstop ;;
    backstop-unix) start_backstop_unix ;;
    testd) start_testd ;;
    rspamd) start_rspamd ;;
    spamass-milter) start_spamass ;;
    *) echo "unknown scenario $sc" >&2; exit 2 ;;
  esac
done

if [[ -n $message ]]; then
  # smtp-source -F sends the file as header + body (it adds CRLFs and dot-stuffing)
  sed '1{/^From /d}' "$message" | tr -d '\r' >"$T/message.eml"
fi

# ----------------------------------------------------------------- versions --
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), shared with other builds"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "postfix: $(postconf -d -h mail_version)"
  echo "backstop: commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo ?) (working tree may differ)"
  [[ -x $rroot/usr/bin/rspamd ]] && echo "rspamd: $(dpkg-deb -f "$(ls "$peers"/debs/rspamd_*.deb | head -1)" Version) (Debian .deb, unpacked)"
  command -v spamd >/dev/null && echo "spamd: $(dpkg-query -W -f='${Version}' spamd), spamass-milter $(dpkg-query -W -f='${Version}' spamass-milter 2>/dev/null)"
  echo "N=$N N_SPAMASS=$N_SPAMASS SIZE=$SIZE SESSIONS=$SESSIONS RUNS=$RUNS WARMUP=$WARMUP WARMUP_SPAMASS=$WARMUP_SPAMASS"
  [[ -n $message ]] && echo "message: $(basename "$message"), $(wc -c <"$T/message.eml") bytes"
} >"$OUT/env.txt"
cat "$OUT/env.txt" >&2

# --------------------------------------------------------------------- runs --
now() { date +%s.%N; }
current=unset
switch() {
  [[ $current == "$1" ]] && return
  postconf -c "$pf/etc" -e "smtpd_milters = $(milter_of "$1")"
  postfix -c "$pf/etc" reload >/dev/null 2>&1
  sleep 2
  current=$1
}
payload_args() {
  case $1 in
    synthetic) echo "-l $SIZE" ;;
    corpus) echo "-F $T/message.eml" ;;
  esac
}
# send SCENARIO PAYLOAD COUNT -> "ok src_s total_s fcpu pcpu counted"
send() {
  local sc=$1 pl=$2 n=$3 t0 t1 t2 f0 f1 p0 p1 c0 c1 s0 rc=0 ok=1
  s0=$(sunk); s0=${s0:-0}
  c0=$(filter_count "$sc"); f0=$(filter_cpu "$sc"); p0=$(util cpu "$(pf_master)")
  t0=$(now)
  # shellcheck disable=SC2046
  smtp-source -s "$SESSIONS" -m "$n" $(payload_args "$pl") -M client.bench.test -f "$FROM" -t "$RCPT" \
    "127.0.0.1:$SMTP" >"$T/source.out" 2>&1 || rc=$?
  t1=$(now)
  local waited=0 got
  while :; do
    got=$(sunk); got=${got:-0}
    ((got - s0 >= n)) && break
    if ((waited > TIMEOUT * 20)); then ok=0; log "sink got $((got - s0)) of $n messages in ${TIMEOUT}s"; break; fi
    sleep 0.05; waited=$((waited + 1))
  done
  t2=$(now)
  f1=$(filter_cpu "$sc"); p1=$(util cpu "$(pf_master)"); c1=$(filter_count "$sc")
  if ((rc != 0)); then ok=0; log "smtp-source exited $rc: $(tail -3 "$T/source.out")"; fi
  local counted=$((c1 - c0))
  if [[ $sc != none && $sc != testd ]] && ((counted != n)); then ok=0; log "$sc counted $counted messages, expected $n"; fi
  # nothing may be left in the queue for the next run
  for _ in $(seq 100); do postqueue -c "$pf/etc" -p 2>/dev/null | grep -q 'Mail queue is empty' && break; sleep 0.1; done
  if ! postqueue -c "$pf/etc" -p 2>/dev/null | grep -q 'Mail queue is empty'; then
    ok=0; log "queue not empty after the run: $(postqueue -c "$pf/etc" -p | tail -1)"
    postsuper -c "$pf/etc" -d ALL >/dev/null 2>&1 || true
  fi
  echo "$ok $(awk -v a="$t0" -v b="$t1" -v c="$t2" -v f0="$f0" -v f1="$f1" -v p0="$p0" -v p1="$p1" \
    'BEGIN { printf "%.3f %.3f %.2f %.2f", b - a, c - a, f1 - f0, p1 - p0 }') $counted"
}

res=$OUT/results.tsv
printf 'scenario\tpayload\trun\tn\tok\tsource_s\ttotal_s\tmsgs_per_s\tsource_msgs_per_s\tfilter_cpu_s\tpostfix_cpu_s\tload1_start\tload1\n' >"$res"
for r in $(seq 1 "$RUNS"); do
  for pl in $PAYLOADS; do
    for sc in $SCENARIOS; do
      switch "$sc"
      w=$WARMUP; [[ $sc == spamass-milter ]] && w=$WARMUP_SPAMASS
      read -r ok _ <<<"$(send "$sc" "$pl" "$w")"
      [[ $ok == 1 ]] || log "warm-up $sc/$pl failed"
      n=$N; [[ $sc == spamass-milter ]] && n=$N_SPAMASS
      l0=$(cut -d' ' -f1 /proc/loadavg)
      read -r ok src tot fcpu pcpu counted <<<"$(send "$sc" "$pl" "$n")"
      l1=$(cut -d' ' -f1 /proc/loadavg)
      line=$(awk -v s="$sc" -v p="$pl" -v r="$r" -v n="$n" -v ok="$ok" -v src="$src" -v tot="$tot" \
        -v f="$fcpu" -v c="$pcpu" -v l0="$l0" -v l1="$l1" \
        'BEGIN { printf "%s\t%s\t%d\t%d\t%d\t%.3f\t%.3f\t%.1f\t%.1f\t%.2f\t%.2f\t%s\t%s", s, p, r, n, ok, src, tot, n / tot, n / src, f, c, l0, l1 }')
      echo "$line" >>"$res"
      log "$(tr '\t' ' ' <<<"$line")"
    done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
# resident memory of each filter after the runs (current and peak, whole process tree)
{
  [[ -n ${bs_pid:-} ]] && echo "backstop: $(util rss "$bs_pid")"
  [[ -n ${bu_pid:-} ]] && echo "backstop-unix: $(util rss "$bu_pid")"
  [[ -n ${rs_pid:-} ]] && echo "rspamd: $(util rss "$rs_pid")"
  [[ -n ${sd_pid:-} ]] && echo "spamass-milter + spamd: $(util rss "$sd_pid" "$sm_pid")"
} >"$OUT/rss.txt" || true
# where backstop's CPU went: per thread CPU seconds and context switches
[[ -n ${bs_pid:-} ]] && util threads "$bs_pid" >"$OUT/backstop-threads.tsv"
util summary "$res" | tee "$OUT/summary.md"
