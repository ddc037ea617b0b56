#!/usr/bin/env bash
# run_all.sh BACKSTOP [CORPUS] [OUTDIR]
# The "Scan and peers" benchmark of docs/benchmarks.md:
#  1. backstop scan, SpamAssassin VBounce, rspamd BOUNCE and Sisimai on the
#     same corpus (default ../shared/corpora), one JSON line per message each,
#     scored by ../shared/eval/score.py; whole-process wall time and msgs/s;
#  2. backstop scan on a >= 1 GiB mbox built from the corpus vs cat on the
#     same file, with hyperfine (page cache warm).
# Needs root for the peer installs (install.sh). Use a release build of
# backstop (cmake --preset release; cmake --build build/release --target backstop).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${1:?usage: run_all.sh BACKSTOP [CORPUS] [OUTDIR]}")
src=$(cd "$here/../.." && pwd)
corpus=$(realpath "${2:-$src/../shared/corpora}")
out=${3:-${TMPDIR:-/tmp}/backstop-peers-out}
mkdir -p "$out"
"$here/install.sh"
score=$(realpath "$src/../shared/eval/score.py")

count() { wc -l <"$1" | tr -d ' '; }
# timed NAME CMD... : runs CMD > $out/NAME.jsonl, prints wall seconds.
timed() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$out/$name.jsonl" 2>"$out/$name.stderr"
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}

printf '%-12s %8s %9s %10s\n' tool messages seconds msgs/s
declare -A secs
secs[backstop]=$(timed backstop "$bin" scan --format jsonl --no-progress "$corpus")
secs[sisimai]=$(timed sisimai perl "$here/sisimai.pl" "$corpus")
secs[spamassassin]=$(timed spamassassin perl "$here/sa_vbounce.pl" "$corpus")
secs[rspamd]=$(timed rspamd "$here/rspamd_bounce.sh" "$corpus")
for t in backstop spamassassin rspamd sisimai; do
  n=$(count "$out/$t.jsonl")
  printf '%-12s %8s %9s %10s\n' "$t" "$n" "${secs[$t]}" \
    "$(python3 -c "print(f'{$n / ${secs[$t]}:.0f}')")"
done
for t in backstop spamassassin rspamd sisimai; do
  echo
  echo "== $t"
  python3 "$score" --corpus "$corpus" --min-recall 0.99 --max-fp 0 "$out/$t.jsonl" || true
done

echo
mbox=$out/corpus-1g.mbox
[[ -s $mbox ]] || python3 "$here/make_mbox.py" "$mbox" "$corpus"
ls -l "$mbox"
# The mbox holds what make_mbox.py wrote; scan must find every message (its
# summary counts messages and errors, an error being an entry that is not mail).
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 1 --runs "${RUNS:-3}" --export-markdown "$out/scan-vs-cat.md" \
    "cat $mbox > /dev/null" \
    "$bin scan --no-progress --jobs 1 --format jsonl $mbox > /dev/null" \
    "$bin scan --no-progress --jobs 2 --format jsonl $mbox > /dev/null"
  cat "$out/scan-vs-cat.md"
fi
for jobs in 1 2; do
  /usr/bin/time -v "$bin" scan --no-progress --jobs $jobs "$mbox" >"$out/mbox-summary-$jobs.txt" 2>"$out/mbox-time-$jobs.txt"
  echo "== --jobs $jobs"
  grep -E "Maximum resident|Elapsed|User time|System time" "$out/mbox-time-$jobs.txt"
  head -1 "$out/mbox-summary-$jobs.txt"
  tail -1 "$out/mbox-summary-$jobs.txt"
done
