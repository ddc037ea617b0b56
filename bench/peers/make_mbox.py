#!/usr/bin/env python3
"""make_mbox.py OUT [--size BYTES] PATH... : writes an mbox of at least BYTES
(default 1 GiB) by repeating the messages under PATH (same walk as the peer
runners), each with a "From " line and mboxrd quoting of body lines that
start with "From " or ">From ".

The "From " line states the envelope sender as a delivery agent would: the
message's own Return-Path (MAILER-DAEMON for "<>"), else the address in its
From: header, else MAILER-DAEMON."""
import argparse
import re
import sys

import walk

QUOTE = re.compile(rb"^(>*From )", re.M)
RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([^>\s]*)>", re.M | re.I)
FROM = re.compile(rb"^From:([^\n]*)", re.M | re.I)
ANGLE_ADDR = re.compile(rb"<([^<>\s]+@[^<>\s]+)>")
BARE_ADDR = re.compile(rb"([^<>\s\"(),;:]+@[^<>\s\"(),;:]+)")


def envelope_sender(data):
    head = data.split(b"\n\n", 1)[0]
    m = RETURN_PATH.search(head)
    if m:
        return m.group(1) or b"MAILER-DAEMON"
    m = FROM.search(head)
    if m:
        a = ANGLE_ADDR.search(m.group(1)) or BARE_ADDR.search(m.group(1))
        if a:
            return a.group(1)
    return b"MAILER-DAEMON"


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
        chunks.append(b"From " + envelope_sender(data) + b" Thu Jan  1 00:00:00 2026\n"
                      + QUOTE.sub(rb">\1", data) + b"\n")
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
