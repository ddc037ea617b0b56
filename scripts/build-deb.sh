#!/usr/bin/env bash
# Builds the Debian package from this tree without touching it:
#   scripts/build-deb.sh [OUTDIR]     (default: build/deb)
# copies the tracked and new files to OUTDIR/src, runs dpkg-buildpackage
# there (binary only, unsigned) and leaves backstop_*.deb in OUTDIR.
# Needs what `scripts/install-deps.sh --build` installs (debhelper included). ccache, when installed, reuses earlier compilations: the copy
# is always at the same place relative to CCACHE_BASEDIR.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$top/build/deb}" && cd "${1:-$top/build/deb}" && pwd)"
src="$out/src"

rm -rf "$src" "$out"/backstop_* "$out"/backstop-dbgsym_*
mkdir -p "$src"
# The files of the tree (tracked, and new ones not ignored), not build output;
# outside a git checkout (a source tarball), everything but build/.
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$top" && git ls-files -z --cached --others --exclude-standard |
    tar --null -T - --ignore-failed-read -cf -) | tar -C "$src" -xf -
else
  tar -C "$top" --exclude=./build --exclude=./var -cf - . | tar -C "$src" -xf -
fi

if command -v ccache >/dev/null; then
  # debhelper points HOME at a scratch directory: name the cache explicitly.
  CCACHE_DIR="${CCACHE_DIR:-$(ccache -k cache_dir)}"
  export CCACHE_DIR CCACHE_BASEDIR="$out" CCACHE_NOHASHDIR=true
fi
cd "$src"
start=$(date +%s)
# No -dbgsym package unless asked for (DEB_BUILD_OPTIONS without
# noautodbgsym): with it (and dwz, see debian/rules) a warm rebuild took
# 145 s here instead of 72 s.
DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc) noautodbgsym}" dpkg-buildpackage -b -uc -us >"$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log" >&2; echo "build-deb: dpkg-buildpackage failed; log: $out/build.log" >&2; exit 1; }
echo "build-deb: $(ls "$out"/backstop_*.deb) in $(($(date +%s) - start)) s"
