#!/usr/bin/env python3
"""Corpus gate for `backstop scan` output (tests/corpus_score).

    gate.py SCORE_PY CORPUS RELABEL_TSV RESULTS_JSONL

Prints score.py's table for the corpus as labelled, then scores again with the
corrections in RELABEL_TSV and exits 1 unless, with them: every backscatter
label with >= 5 messages has recall >= 99%, no ham/spam/feedback_report
message is flagged, and >= 98% of detected messages have the right type.
"""
import collections
import json
import os
import subprocess
import sys

POSITIVE = {"dsn_bounce", "virus_notice", "challenge_response", "subscription_confirm", "autoreply"}
NEGATIVE = {"ham", "spam", "feedback_report"}
RIGHT = {"dsn_bounce": {"bounce"}, "virus_notice": {"virus_notice", "bounce"},
         "challenge_response": {"challenge"}, "subscription_confirm": {"subscription_confirm"},
         "autoreply": {"autoreply"}}
MIN_RECALL, MIN_TYPE_OK, MIN_GATED = 0.99, 0.98, 5


def load_labels(root):
    labels = {}
    for d, _dirs, files in os.walk(root):
        if "LABELS.tsv" not in files:
            continue
        with open(os.path.join(d, "LABELS.tsv"), encoding="utf-8") as f:
            for n, line in enumerate(f):
                cols = line.rstrip("\n").split("\t")
                if (n == 0 and cols[0] == "file") or len(cols) < 2:
                    continue
                labels[os.path.normpath(os.path.join(os.path.relpath(d, root), cols[0]))] = cols[1]
    return labels


def main():
    score_py, corpus, relabel, results = sys.argv[1:5]
    subprocess.run([sys.executable, score_py, "--corpus", corpus, "--misses", results], check=False)
    root = os.path.realpath(corpus)
    labels = load_labels(root)
    with open(relabel, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if line.startswith("#") or cols[0] == "file" or len(cols) < 3:
                continue
            if labels.get(cols[0]) != cols[1]:
                print(f"relabel entry out of date: {cols[0]} is not labelled {cols[1]}")
                return 1
            labels[cols[0]] = cols[2]
    seen = collections.defaultdict(list)
    with open(results, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                seen[os.path.relpath(os.path.realpath(o["file"]), root)].append(o["kind"])
    stats = collections.defaultdict(collections.Counter)
    for rel, label in labels.items():
        if label not in POSITIVE and label not in NEGATIVE:
            continue
        for kind in seen.get(rel) or ["unreported"]:
            s = stats[label]
            s["n"] += 1
            if kind not in ("none", "unreported"):
                s["flagged"] += 1
                s["right"] += label in POSITIVE and kind in RIGHT[label]
                if label in NEGATIVE:
                    print(f"  false positive {kind:20} {rel}")
            elif label in POSITIVE:
                print(f"  missed {label:20} {rel}")
    ok = True
    print("with relabel.tsv applied:")
    detected = right = 0
    for label in sorted(stats):
        s = stats[label]
        if label in POSITIVE:
            recall = s["flagged"] / s["n"]
            detected += s["flagged"]
            right += s["right"]
            gated = s["n"] >= MIN_GATED
            print(f"  {label:22} {s['n']:5} detected {s['flagged']:5} recall {recall:7.2%}"
                  + ("" if gated else "  (not gated: < 5 messages)"))
            ok &= not gated or recall >= MIN_RECALL
        else:
            print(f"  {label:22} {s['n']:5} flagged {s['flagged']:5}")
            ok &= s["flagged"] == 0
    type_ok = right / detected if detected else 0.0
    print(f"  type accuracy among detected {type_ok:.2%}")
    ok &= type_ok >= MIN_TYPE_OK
    print("gate:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
