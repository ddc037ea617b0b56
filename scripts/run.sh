#!/usr/bin/env bash
# Installs what is missing, builds the optimised binary and starts the main job,
# `backstop serve`, on its embedded defaults (no configuration file needed).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --build
cmake --preset release >/dev/null
cmake --build --preset release --target backstop -j "$(nproc)"
exec build/release/src/app/backstop serve "$@"
