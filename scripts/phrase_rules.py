"""Shared by scripts/mailman-phrases.py and scripts/sympa-phrases.py: turning
phrase alternatives into rules (rules/backscatter.rules format, docs/rules.md)
and replacing a generated block of a rules file."""
import sys

# The rule engine's longest pattern (kMaxPatternBytes in src/classify/rules.cc).
PATTERN_MAX = 4096


def literal(s):
    """S as a pattern that matches it literally."""
    return "".join("\\" + c if c in r"\/.^$|?*+()[]{}-" else c for c in s)


def rule_lines(name, target, kind, weight, alts, head="", tail=""):
    """NAME's rule /HEAD(ALT|ALT...)TAIL/, split into NAME, NAME-2, ... where
    one pattern would pass PATTERN_MAX."""
    lines, chunk = [], []

    def emit():
        n = f"{name}-{len(lines) + 1}" if lines else name
        lines.append(f"{n}  {target}  {kind}  {weight}  /{head}({'|'.join(chunk)}){tail}/")

    for alt in alts:
        if chunk and len(f"/{head}({'|'.join(chunk + [alt])}){tail}/".encode()) > PATTERN_MAX:
            emit()
            chunk = []
        chunk.append(alt)
    if chunk:
        emit()
    return lines


def replace_block(path, block, lines):
    """Replaces the lines between "# BEGIN BLOCK" and "# END BLOCK" of PATH."""
    text = open(path, encoding="utf-8").read().split("\n")
    try:
        b = next(i for i, l in enumerate(text) if l.startswith(f"# BEGIN {block}"))
        e = next(i for i, l in enumerate(text) if l.startswith(f"# END {block}"))
    except StopIteration:
        sys.exit(f"{path}: no '# BEGIN {block}' / '# END {block}' lines")
    text[b + 1:e] = lines
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(text))
