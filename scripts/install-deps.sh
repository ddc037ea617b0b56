#!/usr/bin/env bash
# Installs what backstop needs to build and test, from Debian 12 packages only.
# Idempotent: installs only what is missing. Must run as root (or with sudo).
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --build  only what building needs
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config ccache git
  libgmime-3.0-dev libasio-dev libc-ares-dev liblmdb-dev libhiredis-dev libssl-dev
  libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev prometheus-cpp-dev
  libvectorscan-dev libgtest-dev libgmock-dev libbenchmark-dev
)
test_pkgs=(
  clang-14 libclang-rt-14-dev python3 lmdb-utils chromium python3-websocket
  postfix swaks miltertest rbldnsd dnsutils redis-server redis-sentinel sasl2-bin procps iproute2 time systemd
)

want=("${build_pkgs[@]}")
if [[ "${1:-}" != "--build" ]]; then
  want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or with sudo)" >&2
  exit 2
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# Postfix: never configure or start the system instance; tests run private ones.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get install -y -q --no-install-recommends "${missing[@]}"
