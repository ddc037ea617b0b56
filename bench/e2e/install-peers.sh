#!/usr/bin/env bash
# install-peers.sh: the milter peers of the end-to-end benchmark (bench/e2e/run.sh)
# on Debian 12, as root. Benchmark-only: scripts/install-deps.sh (and CI) never
# needs them. Idempotent. System services the packages ship are not started
# (policy-rc.d); run.sh starts private instances on loopback.
#
#   spamd spamass-milter   SpamAssassin's daemon (the spamassassin package is
#                          installed by bench/peers/install.sh) and its milter
#   rspamd                 Debian's rspamd 3.4 depends on libhyperscan5, which
#                          conflicts with the libvectorscan5 backstop builds
#                          against; as in bench/peers/rspamd_bounce.sh its .deb
#                          (and libhyperscan5's) are fetched with
#                          `apt-get download` and unpacked under $PEERS_WORK,
#                          its ordinary library dependencies installed by apt.
#   postfix                smtp-source and smtp-sink come with it
set -euo pipefail
work=${PEERS_WORK:-/var/tmp/backstop-peers}
if [[ $(id -u) -ne 0 ]]; then echo "install-peers: run as root" >&2; exit 2; fi
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
trap '[[ $created_policy -eq 1 ]] && rm -f "$policy"' EXIT

pkgs=(postfix spamassassin spamd spamc spamass-milter curl
      libglib2.0-0 libicu72 libluajit2-5.1-2 libsodium23 libsqlite3-0 libunwind8 libpcre2-8-0)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

root=$work/rspamd-root
if [[ ! -x $root/usr/bin/rspamd ]]; then
  mkdir -p "$work/debs" "$root"
  (cd "$work/debs" && apt-get download rspamd libhyperscan5)
  for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$root"; done
fi
echo "peers: postfix $(dpkg-query -W -f='${Version}' postfix)," \
  "spamd $(dpkg-query -W -f='${Version}' spamd)," \
  "spamass-milter $(dpkg-query -W -f='${Version}' spamass-milter)," \
  "rspamd $(dpkg-deb -f "$(ls "$work"/debs/rspamd_*.deb | head -1)" Version) (unpacked in $root)"
