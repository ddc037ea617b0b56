#!/usr/bin/env python3
"""make_attach_mbox.py OUT --attach BYTES [--size BYTES | --count N] PATH... :
writes an mbox of list mail with attachments. Each message under PATH (same
walk as the peer runners; use a ham set such as easy_ham) becomes a
multipart/mixed message: its own MIME entity (its Content-* fields moved into
the first part) followed by one attachment of BYTES decoded bytes, base64,
alternately application/pdf, image/jpeg and application/zip, as mail clients
attach them. The attachment bytes are pseudo-random (fixed seed), so the file
is the same on every run. Messages repeat until the mbox holds at least
--size bytes (default 256 MiB) or --count messages.

The "From " line states the envelope sender from the message's Return-Path
or From: field, as make_mbox.py does; body lines starting with "From " or
">From " are mboxrd-quoted."""
import argparse
import base64
import random
import re
import sys

import walk
from make_mbox import QUOTE, envelope_sender

MIME_FIELD = re.compile(rb"^(content-[^:]*|mime-version):", re.I)
KINDS = [(b"application/pdf", b"report.pdf"), (b"image/jpeg", b"photo.jpg"),
         (b"application/zip", b"archive.zip")]


def split_fields(head):
    """The header section as a list of fields (each with its folded lines)."""
    fields = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line
        elif line:
            fields.append(line)
    return fields


def with_attachment(data, attach, n, rng):
    head, sep, body = data.partition(b"\n\n")
    if not sep:
        return None
    fields = split_fields(head)
    outer = [f for f in fields if not MIME_FIELD.match(f)]
    inner = [f for f in fields if MIME_FIELD.match(f) and not f.lower().startswith(b"mime-version")]
    if not inner:
        inner = [b"Content-Type: text/plain; charset=us-ascii"]
    boundary = b"=_bench_%08d" % n
    ctype, name = KINDS[n % len(KINDS)]
    payload = base64.encodebytes(rng.randbytes(attach)) if attach else b""
    parts = [
        b"\n".join(outer),
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="' + boundary + b'"',
        b"",
        b"This is a multi-part message in MIME format.",
        b"",
        b"--" + boundary,
        b"\n".join(inner),
        b"",
        body.rstrip(b"\n"),
        b"",
        b"--" + boundary,
        b"Content-Type: " + ctype + b'; name="' + name + b'"',
        b"Content-Transfer-Encoding: base64",
        b'Content-Disposition: attachment; filename="' + name + b'"',
        b"",
        payload.rstrip(b"\n"),
        b"",
        b"--" + boundary + b"--",
        b"",
    ]
    return b"\n".join(parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--attach", type=int, required=True, help="decoded bytes of each attachment")
    ap.add_argument("--size", type=int, default=256 << 20)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    sources = []
    for _f, _i, data in walk.messages(a.paths):
        data = data.replace(b"\r\n", b"\n")
        if data.startswith(b"From ") or b"\n\n" not in data:
            continue
        sources.append(data)
    if not sources:
        print("no messages", file=sys.stderr)
        return 2
    rng = random.Random(16)
    written = n = 0
    with open(a.out, "wb") as out:
        while (a.count and n < a.count) or (not a.count and written < a.size):
            data = sources[n % len(sources)]
            msg = with_attachment(data, a.attach, n, rng)
            n += 1
            if msg is None:
                continue
            chunk = (b"From " + envelope_sender(msg) + b" Thu Jan  1 00:00:00 2026\n"
                     + QUOTE.sub(rb">\1", msg) + b"\n")
            out.write(chunk)
            written += len(chunk)
    print(f"{a.out}: {written} bytes, {n} messages, {written / max(n, 1):.0f} bytes a message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
