#!/usr/bin/env bash
# attach_bench.sh BEFORE AFTER [OUTDIR] : the "Scan of list mail with
# attachments" benchmark of docs/benchmarks.md. Builds mailboxes of list mail
# (the easy_ham set of ../shared/corpora) with one attachment each
# (make_attach_mbox.py), then, pinned to one core (taskset -c 1), whole
# process, one job, in interleaved rounds:
#  1. BEFORE and AFTER `backstop scan --jobs 1` and Sisimai (sisimai.pl) on
#     the ~12 KB-a-message mailbox;
#  2. BEFORE and AFTER on attachments of 0, 12 KB, 100 KB and 1 MB;
#  3. BEFORE and AFTER on ../shared/corpora (the dev-corpus rate).
# Each line: label, wall s, user s, sys s (GNU time). ROUNDS (default 3) and
# SISIMAI_ROUNDS (default 2) set the rounds. Needs bench/peers/install.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
before=$(realpath "${1:?usage: attach_bench.sh BEFORE AFTER [OUTDIR]}")
after=$(realpath "${2:?usage: attach_bench.sh BEFORE AFTER [OUTDIR]}")
out=${3:-${TMPDIR:-/tmp}/backstop-attach-bench}
corpus=$(realpath "$src/../shared/corpora")
ham=$corpus/spamassassin-public-corpus-easy-ham/easy_ham
mkdir -p "$out"
build_mbox() {  # build_mbox NAME ATTACH COUNT
  [[ -s $out/$1.mbox ]] || python3 "$here/make_attach_mbox.py" "$out/$1.mbox" --attach "$2" --count "$3" "$ham"
}
build_mbox list12k 5800 10000
build_mbox a0 0 10000
build_mbox a100k 102400 1000
build_mbox a1m 1048576 200
run() {  # run LABEL CMD...
  local label=$1
  shift
  /usr/bin/time -o "$out/time.txt" -f '%e %U %S' taskset -c 1 "$@" >/dev/null 2>&1
  echo "$label $(tail -1 "$out/time.txt")"
}
echo "# $(date -u '+%F %T') load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "${ROUNDS:-3}"); do
  run "before list12k" "$before" scan --no-progress --jobs 1 "$out/list12k.mbox"
  run "after list12k" "$after" scan --no-progress --jobs 1 "$out/list12k.mbox"
  if (( r <= ${SISIMAI_ROUNDS:-2} )); then
    run "sisimai list12k" perl "$here/sisimai.pl" "$out/list12k.mbox"
  fi
  for f in a0 a100k a1m; do
    run "before $f" "$before" scan --no-progress --jobs 1 "$out/$f.mbox"
    run "after $f" "$after" scan --no-progress --jobs 1 "$out/$f.mbox"
  done
  run "before corpora" "$before" scan --no-progress --jobs 1 "$corpus"
  run "after corpora" "$after" scan --no-progress --jobs 1 "$corpus"
  echo "# round $r done $(date -u '+%T') load: $(cut -d' ' -f1-3 /proc/loadavg)"
done
