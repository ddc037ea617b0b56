#!/usr/bin/env python3
"""make_mbox.py OUT [--size BYTES] PATH... : writes an mbox of at least BYTES
(default 1 GiB) by repeating the messages under PATH (same walk as the peer
runners), each with a "From " line and mboxrd quoting of body lines that
start with "From " or ">From "."""
import argparse
import re
import sys

import walk

QUOTE = re.compile(rb"^(>*From )", re.M)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=1 << 30)
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    chunks = []
    for _f, _i, data in walk.messages(a.paths):
        data = data.replace(b"\r\n", b"\n")
        if not data.endswith(b"\n"):
            data += b"\n"
        chunks.append(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n" + QUOTE.sub(rb">\1", data) + b"\n")
    if not chunks:
        print("no messages", file=sys.stderr)
        return 2
    block = b"".join(chunks)
    written = rounds = 0
    with open(a.out, "wb") as out:
        while written < a.size:
            out.write(block)
            written += len(block)
            rounds += 1
    print(f"{a.out}: {written} bytes, {rounds * len(chunks)} messages ({len(chunks)} distinct x {rounds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
