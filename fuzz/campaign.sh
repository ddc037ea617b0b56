#!/usr/bin/env bash
# campaign.sh BUILD_FUZZ_DIR TARGET CPU_MINUTES WORK_DIR
# One exploratory libFuzzer campaign: runs TARGET (random seed) in rounds of at
# most 10 wall-minutes over a corpus kept in WORK_DIR/corpus, seeded from
# fuzz/corpus/TARGET and, when BACKSTOP_SHARED is set, the shared corpora,
# until the fuzzer has used CPU_MINUTES of CPU time (user + system, read with
# getrusage, so a campaign niced behind other work still gets its full
# budget). Prints one summary line:
#   target=T cpu_min=M execs=N cov=C ft=F corpus=K findings=A
# Findings (crashes, leaks, timeouts, OOMs) are left in WORK_DIR/artifacts;
# each becomes a regression seed in fuzz/corpus/TARGET once fixed.
set -euo pipefail
bdir=$1 target=$2 budget_min=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
bin="$bdir/fuzz/$target"
[[ -x $bin ]] || { echo "campaign: $bin not built (run the fuzz preset)" >&2; exit 1; }
mkdir -p "$work/corpus" "$work/artifacts"
dirs=("$work/corpus")
[[ -d $here/corpus/$target ]] && dirs+=("$here/corpus/$target")
[[ -n ${BACKSTOP_SHARED:-} && -d $BACKSTOP_SHARED/corpora ]] && dirs+=("$BACKSTOP_SHARED/corpora")
budget=$((budget_min * 60))
used=0 execs=0 round=0 cov=0 ft=0
dict=()
[[ -f $here/$target.dict ]] && dict=(-dict="$here/$target.dict")
while ((used < budget)); do
  round=$((round + 1))
  left=$((budget - used))
  wall=$((left < 600 ? left : 600))
  log="$work/round$round.log"
  # The fuzzer's own CPU time comes from `time -f` (children's rusage).
  /usr/bin/time -f "cpu %U %S" -o "$work/round$round.cpu" \
    "$bin" -seed=0 -max_total_time="$wall" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
    "${dict[@]}" -artifact_prefix="$work/artifacts/" -print_final_stats=1 "${dirs[@]}" >"$log" 2>&1 || true
  read -r _ u s <"$work/round$round.cpu" || true
  cpu=$(awk -v u="${u:-0}" -v s="${s:-0}" 'BEGIN { printf "%d", u + s }')
  ((cpu > 0)) || cpu=1
  used=$((used + cpu))
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=$((execs + ${n:-0}))
  last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -1 || true)
  c=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last"); f=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  [[ -n $c ]] && cov=$c
  [[ -n $f ]] && ft=$f
done
corpus=$(find "$work/corpus" -type f | wc -l)
findings=$(find "$work/artifacts" -type f | wc -l)
echo "target=$target cpu_min=$((used / 60)) execs=$execs cov=$cov ft=$ft corpus=$corpus findings=$findings"
