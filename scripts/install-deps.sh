#!/usr/bin/env bash
# Installs what backstop needs to build and test, from Debian 12 packages only.
# Idempotent: installs only what is missing. Must run as root (or with sudo).
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --build  only what building needs (the binary, the .deb)
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config ccache git
  libgmime-3.0-dev libasio-dev libc-ares-dev liblmdb-dev libhiredis-dev libssl-dev
  libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev prometheus-cpp-dev
  libvectorscan-dev libgtest-dev libgmock-dev libbenchmark-dev
  debhelper
)
test_pkgs=(
  clang-14 libclang-rt-14-dev python3 lmdb-utils chromium python3-websocket
  postfix swaks miltertest rbldnsd dnsutils redis-server redis-sentinel sasl2-bin procps iproute2 time systemd
  lintian man-db groff-base util-linux adduser
  m4 libidn12 libwrap0 liblockfile1 libgnutls-dane0 libnsl2 libdb5.3
)
# Exim and Sendmail conflict with postfix: their packages are only downloaded
# (to mta_debs_dir); tests/exim_e2e and tests/sendmail_e2e unpack and run them
# in a private directory and mount namespace. The libraries they need are in
# test_pkgs above. amavisd-new is only downloaded too: tests/audit_e2e lints
# the configuration its package ships. opensmtpd (it conflicts with postfix
# too) is run only by tests/generated/regenerate.sh, a dev-time tool that
# names the libraries it needs itself.
mta_debs=(exim4-base exim4-daemon-light sendmail-base sendmail-cf sendmail-bin amavisd-new opensmtpd)
mta_debs_dir="${BACKSTOP_TEST_DEBS:-/var/cache/backstop-test-debs}"

# Downloads the MTA packages that are not in mta_debs_dir yet.
download_mta_debs() {
  local want=() p
  for p in "${mta_debs[@]}"; do
    compgen -G "$mta_debs_dir/${p}_*.deb" >/dev/null || want+=("$p")
  done
  ((${#want[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: packages to download into $mta_debs_dir: ${want[*]}; run as root (or with sudo)" >&2
    exit 2
  fi
  echo "install-deps: downloading ${want[*]} into $mta_debs_dir"
  mkdir -p "$mta_debs_dir"
  [[ -n "${apt_updated:-}" ]] || apt-get update -q
  (cd "$mta_debs_dir" && apt-get download -q -o APT::Sandbox::User=root "${want[@]}")
}

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
  [[ "${1:-}" == "--build" ]] || download_mta_debs
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or with sudo)" >&2
  exit 2
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt_updated=1
# Postfix: never configure or start the system instance; tests run private ones.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get install -y -q --no-install-recommends "${missing[@]}"
[[ "${1:-}" == "--build" ]] || download_mta_debs
