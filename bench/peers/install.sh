#!/usr/bin/env bash
# Installs the peers of the scan comparison from Debian 12 packages:
# SpamAssassin (VBounce rules), rspamd (BOUNCE symbols), Sisimai, hyperfine.
# Benchmark-only: scripts/install-deps.sh does not install these. Idempotent;
# needs root. System services the packages ship are not started here; the
# run scripts start private instances on loopback.
set -euo pipefail
pkgs=(spamassassin libsisimai-perl hyperfine redis-server time)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "peers: all installed"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "peers: missing ${missing[*]}; run as root" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting system daemons.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
trap '[[ $created_policy -eq 1 ]] && rm -f "$policy"' EXIT
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
