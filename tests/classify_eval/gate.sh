#!/bin/sh
# Usage: gate.sh CLASSIFY_EVAL PYTHON RESULTS
# Classifies $BACKSTOP_SHARED/corpora and scores it with gate.py (score.py's
# thresholds, with the label corrections of relabel.tsv).
set -eu
eval_bin=$1 python=$2 results=$3
here=$(dirname "$0")
corpus="$BACKSTOP_SHARED/corpora"
"$eval_bin" "$corpus" > "$results" 2> "$results.log"
tail -n 1 "$results.log"
exec "$python" "$here/gate.py" "$BACKSTOP_SHARED/eval/score.py" "$corpus" "$here/relabel.tsv" "$results"
