#!/usr/bin/env python3
"""Checks the include rule of docs/architecture.md over src/.

A component's non-test files may include headers of components in lower
layers only; components of the same layer never include each other. Unit
tests (*_test.cc, test helpers) may also include test helpers of the
components they test. Exits 1 listing every violation, 0 when clean.
"""
import os
import re
import sys

# Bottom to top. Keep in step with the table in docs/architecture.md.
LAYERS = [
    ["common"],
    ["mail", "batv", "store", "net"],
    ["config", "classify", "outbound", "milter", "policyd"],
    ["correlate", "dnsbl", "report"],
    ["policy", "audit"],
    ["daemon"],
    ["app"],
]
# Exceptions inside a layer are named here, with the reason; none today.
ALLOWED_SIDEWAYS = set()

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


def main(src):
    layer_of = {c: i for i, layer in enumerate(LAYERS) for c in layer}
    problems = []
    on_disk = {d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d))}
    for missing in sorted(on_disk - set(layer_of)):
        problems.append(f"{missing}: component not placed in a layer (add it to LAYERS and the docs)")
    for comp in sorted(on_disk & set(layer_of)):
        for name in sorted(os.listdir(os.path.join(src, comp))):
            if name.endswith("_test.cc") or "test" in name.split(".")[0].split("_"):
                continue
            if not name.endswith((".cc", ".h", ".in")):
                continue
            path = os.path.join(src, comp, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m or m.group(1) == comp:
                        continue
                    dep = m.group(1)
                    if dep not in layer_of:
                        continue  # not a component (e.g. a third-party folder)
                    if layer_of[dep] < layer_of[comp] or (comp, dep) in ALLOWED_SIDEWAYS:
                        continue
                    where = "sideways" if layer_of[dep] == layer_of[comp] else "upwards"
                    problems.append(f"src/{comp}/{name}:{lineno}: includes {dep}/ ({where})")
    for p in problems:
        print(p)
    print(f"layering: {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
