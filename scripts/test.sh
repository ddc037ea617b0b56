#!/usr/bin/env bash
# Installs what is missing, builds (ASan+UBSan with -Werror, and the clang
# libFuzzer targets), and runs every test with ctest. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"

cmake --preset asan -DBACKSTOP_FUZZ_BIN_DIR="$PWD/build/fuzz/fuzz" >/dev/null
cmake --build --preset asan -j "$jobs"

cd build/asan
exec ctest --output-on-failure -j "$jobs" --timeout 1200
