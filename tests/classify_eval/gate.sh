#!/bin/sh
# Usage: gate.sh CLASSIFY_EVAL PYTHON RESULTS
# Classifies $BACKSTOP_SHARED/corpora and fails unless eval/score.py passes
# with recall >= 99% per label and no false positive.
set -eu
eval_bin=$1 python=$2 results=$3
corpus="$BACKSTOP_SHARED/corpora"
"$eval_bin" "$corpus" > "$results"
exec "$python" "$BACKSTOP_SHARED/eval/score.py" --corpus "$corpus" \
  --min-recall 0.99 --max-fp 0 --misses "$results"
