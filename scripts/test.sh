#!/usr/bin/env bash
# Installs what is missing, builds (ASan+UBSan with -Werror, the clang
# libFuzzer targets, and ThreadSanitizer builds of the threaded tests), and
# runs every test with ctest. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc)
# ccache: paths relative to the checkout's parent and no working directory in
# the hash, so that a fresh clone anywhere reuses what an earlier build of the
# same sources compiled.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(dirname "$PWD")}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"

cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs" --target net_test store_test milter_server_test policyd_test \
  daemon_http_test daemon_web_test daemon_test

cmake --preset asan -DBACKSTOP_FUZZ_BIN_DIR="$PWD/build/fuzz/fuzz" -DBACKSTOP_TSAN_BIN_DIR="$PWD/build/tsan" >/dev/null
cmake --build --preset asan -j "$jobs"

cd build/asan
exec ctest --output-on-failure -j "$jobs" --timeout 1200
