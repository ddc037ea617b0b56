#!/usr/bin/env bash
# run_fuzzer.sh BINARY SEED_DIR SECONDS WORK_DIR
# Runs one libFuzzer target for SECONDS over a fresh work corpus, seeded from
# SEED_DIR (in the repo) and, when BACKSTOP_SHARED is set, the labelled mail in
# $BACKSTOP_SHARED/corpora (read only; libFuzzer writes only to WORK_DIR).
# Exits non-zero on any crash, leak, timeout or sanitizer report.
# The seed is fixed (BACKSTOP_FUZZ_SEED, default 1), so every run starts on
# the same inputs; it is not a replay: two runs of one seed on one machine
# part after a few thousand inputs (measured at about 4,600, and 5,200 with
# address randomisation off), so a CI run can reach an input no earlier run
# did. A failure is a finding: its input is in WORK_DIR/artifacts (the path
# is printed) and replays with `BINARY FILE`. Exploratory campaigns set
# BACKSTOP_FUZZ_SEED=0 (a random seed each run) and a longer time, e.g.
#   BACKSTOP_FUZZ_SEED=0 tests/run_fuzzer.sh build/fuzz/fuzz/fuzz_message fuzz/corpus/fuzz_message 3600 /tmp/fz
set -euo pipefail
bin=$1 seeds=$2 secs=$3 work=$4
if [[ ! -x $bin ]]; then
  echo "run_fuzzer: $bin not built (run the fuzz preset)" >&2
  exit 1
fi
rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
dirs=("$work/corpus")
[[ -d $seeds ]] && dirs+=("$seeds")
if [[ -n ${BACKSTOP_SHARED:-} && -d $BACKSTOP_SHARED/corpora ]]; then
  dirs+=("$BACKSTOP_SHARED/corpora")
fi
exec "$bin" -seed="${BACKSTOP_FUZZ_SEED:-1}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "${dirs[@]}"
