#!/usr/bin/env python3
"""backstop(8) stays in step with the binary: every command of
`backstop --help-all`, and every long option of each command's --help, is
described in man/backstop.8; both man pages format without a groff warning.

usage: check_man.py BACKSTOP_BINARY SOURCE_DIR
"""
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def commands(binary):
    """Command paths from --help-all: ['serve'], ['dnsbl', 'export'], ..."""
    out = run(binary, "--help-all")
    paths, top, in_sub = [], None, False
    for line in out.splitlines()[out.splitlines().index("Subcommands:") + 1:]:
        if re.fullmatch(r"[a-z][a-z-]*", line):
            top, in_sub = line, False
            paths.append([top])
        elif line.strip() == "Subcommands:":
            in_sub = True
        elif in_sub and (m := re.match(r"    ([a-z][a-z-]*)\s", line)):
            paths.append([top, m.group(1)])
    return paths


def long_options(binary, path):
    out = run(binary, *path, "--help")
    opts = set(re.findall(r"(?:^|[ ,])(--[a-z][a-z-]*)", out, re.M))
    return opts - {"--help", "--help-all"}


def roff(s):
    return s.replace("-", "\\-")


def main():
    binary, src = sys.argv[1], sys.argv[2]
    page = open(f"{src}/man/backstop.8").read()
    failures = []
    paths = commands(binary)
    if len(paths) < 20:
        failures.append(f"only {len(paths)} commands parsed from --help-all")
    # One process per command: run them a few at a time (each starts the
    # sanitizer build's runtime).
    with ThreadPoolExecutor(max_workers=4) as pool:
        opts_of = dict(zip(map(tuple, paths), pool.map(lambda p: long_options(binary, p), paths)))
    for path in paths:
        name = " ".join(path)
        # A command with subcommands is described through them.
        if not any(p[:len(path)] == path and len(p) > len(path) for p in paths):
            if f'.SS "backstop {roff(name)}' not in page:
                failures.append(f"backstop {name}: no section '.SS \"backstop {name}...\"'")
        for opt in sorted(opts_of[tuple(path)]):
            if roff(opt) not in page:
                failures.append(f"backstop {name} {opt}: not in backstop(8)")
    for man in ("backstop.8", "backstop.toml.5"):
        r = subprocess.run(["groff", "-man", "-ww", "-z", f"{src}/man/{man}"], capture_output=True, text=True)
        if r.returncode != 0 or r.stderr:
            failures.append(f"{man}: groff: {r.stderr.strip()}")
    for f in failures:
        print("FAIL", f)
    print(f"{len(paths)} commands checked, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
