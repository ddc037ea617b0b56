#!/usr/bin/env python3
"""pick_near_misses.py CORPORA > manifest.tsv: picks the near-miss negatives of the
labelled corpora (../shared/corpora): messages that are not backscatter but
look close. Run by hand when the corpora change; tests/near_miss scores the
committed manifest. The criteria are fixed here, decided before scoring, and
no message is left out for how backstop classifies it:

  reply      ham whose Subject starts with a reply prefix (Re:, AW:, SV:, ...)
  wording    ham whose Subject or text mentions bounces, delivery failure,
             vacations/out of office, autoreplies, confirmation,
             (un)subscription, verification or receipts
  feedback   every ARF / feedback report (feedback_report label)
  spam       spam with the same wording (spam that imitates notices)

A message that fits several criteria is listed once, under the first.
Output: one line per message, "PATH<TAB>CRITERION", PATH relative to the
corpora root, sorted.
"""
import email
import email.policy
import os
import re
import sys

REPLY = re.compile(r"^\s*(re|aw|sv|vs|antw|odp|ynt|ref)\s*:", re.I)
WORDING = re.compile(
    r"bounce|undeliver|delivery (fail|status|notification)|returned mail|mailer-daemon|"
    r"vacation|holiday|out of (the )?office|auto-?reply|automatic reply|away from|"
    r"confirm|subscri|verif|receipt|opt-?in|double opt", re.I)
# Text read per message for the wording test: the first part of the body.
MAX_TEXT = 64 * 1024


def labels(root):
    for d, _dirs, files in os.walk(root):
        if "LABELS.tsv" not in files:
            continue
        with open(os.path.join(d, "LABELS.tsv"), encoding="utf-8") as f:
            for n, line in enumerate(f):
                cols = line.rstrip("\n").split("\t")
                if (n == 0 and cols[0] == "file") or len(cols) < 2:
                    continue
                yield os.path.normpath(os.path.join(os.path.relpath(d, root), cols[0])), cols[1]


def subject_and_text(path):
    with open(path, "rb") as f:
        raw = f.read(MAX_TEXT)
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    subject = str(msg.get("Subject", ""))
    return subject, raw.decode("utf-8", "replace")


def main():
    root = sys.argv[1]
    out = []
    for rel, label in labels(root):
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            continue
        if label == "feedback_report":
            out.append((rel, "feedback"))
            continue
        if label not in ("ham", "spam"):
            continue
        subject, text = subject_and_text(path)
        if label == "ham" and REPLY.search(subject):
            out.append((rel, "reply"))
        elif WORDING.search(subject) or WORDING.search(text.split("\n\n", 1)[-1]):
            out.append((rel, "wording" if label == "ham" else "spam"))
    for rel, why in sorted(out):
        print(f"{rel}\t{why}")


if __name__ == "__main__":
    main()
