"""Message walk shared by the Python peer runners: the same order and mbox
splitting as CorpusWalk.pm (sorted files; mbox split at "From " lines that
follow an empty line; corpus description files skipped)."""
import os
import re

SKIP = re.compile(r"^(LABELS\.tsv|README.*|LICENSE.*|\..*)$")
SPLIT = re.compile(rb"(?<=\n\n)(?=From )|(?<=\r\n\r\n)(?=From )")


def files(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            for d, dirs, fs in os.walk(p):
                dirs[:] = [x for x in dirs if not x.startswith(".")]
                out.extend(os.path.join(d, f) for f in fs if not SKIP.match(f))
        else:
            out.append(p)
    return sorted(out)


def messages(paths):
    """Yields (file, index, bytes)."""
    for f in files(paths):
        try:
            data = open(f, "rb").read()
        except OSError:
            continue
        if not data:
            continue
        if data.startswith(b"From "):
            for i, m in enumerate(SPLIT.split(data)):
                yield f, i, m.split(b"\n", 1)[1] if b"\n" in m else b""
        else:
            yield f, 0, data
