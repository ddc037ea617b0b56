#!/usr/bin/env bash
# near_miss.sh BACKSTOP WORKDIR: scans the near-miss negatives listed in
# manifest.tsv (paths relative to ../shared/corpora, chosen by
# pick_near_misses.py; see README.md) with `backstop scan --format jsonl` and
# fails unless the manifest holds at least 200 messages, every one of them is
# present and reported, and none is flagged as any backscatter kind.
set -euo pipefail
bin=${1:?usage: near_miss.sh BACKSTOP WORKDIR}
work=${2:?usage: near_miss.sh BACKSTOP WORKDIR}
shared=${BACKSTOP_SHARED:?BACKSTOP_SHARED is not set}
here=$(cd "$(dirname "$0")" && pwd)
corpora=$shared/corpora
# The issue's floor for the near-miss set.
min_messages=200
mkdir -p "$work"
paths=()
missing=0
while IFS=$'\t' read -r rel _why; do
  [[ -n $rel ]] || continue
  if [[ -f $corpora/$rel ]]; then paths+=("$corpora/$rel"); else echo "missing: $rel"; missing=$((missing + 1)); fi
done <"$here/manifest.tsv"
echo "near-miss manifest: ${#paths[@]} messages present, $missing missing"
"$bin" scan --format jsonl --no-progress "${paths[@]}" >"$work/near_miss.jsonl" 2>"$work/near_miss.stderr"
python3 - "$work/near_miss.jsonl" "$corpora" "$here/manifest.tsv" "$min_messages" "$missing" <<'PY'
import collections, json, os, sys
results, root, manifest, floor, missing = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
why = dict(l.rstrip("\n").split("\t")[:2] for l in open(manifest, encoding="utf-8") if l.strip())
seen, flagged = set(), []
for line in open(results, encoding="utf-8"):
    o = json.loads(line)
    rel = os.path.relpath(os.path.realpath(o["file"]), root)
    seen.add(rel)
    if o["kind"] != "none":
        flagged.append((rel, o["kind"]))
per = collections.Counter(why.values())
print("criteria: " + ", ".join(f"{k} {v}" for k, v in sorted(per.items())))
for rel, kind in flagged:
    print(f"  flagged {kind:20} {rel} ({why.get(rel, '?')})")
unreported = sorted(set(why) - seen)
for rel in unreported[:20]:
    print(f"  unreported {rel}")
ok = len(why) >= floor and not missing and not unreported and not flagged
print(f"near-miss set: {len(why)} messages (need >= {floor}), {len(flagged)} flagged, "
      f"{len(unreported)} unreported, {missing} missing: {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
