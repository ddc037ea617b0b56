#!/usr/bin/env bash
# Installs what is missing, builds the optimised binary and starts the main job,
# `backstop serve`, on its embedded defaults (no configuration file needed).
# As root, serve binds its listeners and then drops to the system user
# `backstop` (created here if missing, as docs/install.md does): it will not
# keep root. Its state is ./var/backstop, so this directory must be searchable
# by that user.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --build
cmake --preset release >/dev/null
cmake --build --preset release --target backstop -j "$(nproc)"
if [[ $(id -u) -eq 0 ]]; then
  id -u backstop >/dev/null 2>&1 ||
    adduser --system --group --home /var/lib/backstop --no-create-home backstop
  set -- --run-as backstop "$@"
fi
exec build/release/src/app/backstop serve "$@"
