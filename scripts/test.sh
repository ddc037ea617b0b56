#!/usr/bin/env bash
# Installs what is missing, builds (ASan+UBSan with -Werror, the clang
# libFuzzer targets, and ThreadSanitizer builds of the threaded tests), and
# runs every test with ctest. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"

cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs" --target net_test store_test milter_server_test policyd_test \
  daemon_http_test daemon_test

cmake --preset asan -DBACKSTOP_FUZZ_BIN_DIR="$PWD/build/fuzz/fuzz" -DBACKSTOP_TSAN_BIN_DIR="$PWD/build/tsan" >/dev/null
cmake --build --preset asan -j "$jobs"

cd build/asan
exec ctest --output-on-failure -j "$jobs" --timeout 1200
