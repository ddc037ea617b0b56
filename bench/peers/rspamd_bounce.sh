#!/usr/bin/env bash
# rspamd_bounce.sh PATH... > results.jsonl
# rspamd 3.4 (Debian `rspamd`) with its stock configuration, as a private
# instance on 127.0.0.1 (normal worker only, DNS pointed at a closed loopback
# port, logs and state in a temporary directory), stopped by PID at the end.
# Each message is posted to /checkv2 (4 in flight) without an SMTP envelope;
# kind: symbol BOUNCE -> bounce, else none (rspamd has no other kind).
#
# Debian's rspamd depends on libhyperscan5, which conflicts with the
# libvectorscan5 that backstop builds against, so the package is not
# installed: its .deb (and libhyperscan5's) are fetched with
# `apt-get download` and unpacked under $PEERS_WORK, and run from there.
# Its other dependencies are ordinary Debian libraries installed by apt-get.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${PEERS_WORK:-/var/tmp/backstop-peers}
root=$work/rspamd-root
port=${RSPAMD_PORT:-11433}

if [[ ! -x $root/usr/bin/rspamd ]]; then
  deps=(libglib2.0-0 libicu72 libluajit2-5.1-2 libsodium23 libsqlite3-0 libunwind8 libpcre2-8-0)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${deps[@]}" >&2
  mkdir -p "$work/debs" "$root"
  (cd "$work/debs" && apt-get download rspamd libhyperscan5 >&2)
  for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$root"; done
fi
export LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu:$root/usr/lib/rspamd

run=$(mktemp -d "${TMPDIR:-/tmp}/backstop-rspamd-XXXXXX")
mkdir -p "$run/local/override.d" "$run/db"
cat >"$run/local/override.d/worker-normal.inc" <<CONF
bind_socket = "127.0.0.1:$port";
count = ${RSPAMD_WORKERS:-2};
CONF
for w in controller proxy fuzzy; do echo 'enabled = false;' >"$run/local/override.d/worker-$w.inc"; done
cat >"$run/local/override.d/options.inc" <<CONF
dns { nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 0; }
tempdir = "$run";
CONF
cat >"$run/local/override.d/logging.inc" <<CONF
type = "file";
filename = "$run/rspamd.log";
level = "warning";
CONF

share=$root/usr/share/rspamd
"$root/usr/bin/rspamd" -f -i -u root -g root -c "$root/etc/rspamd/rspamd.conf" \
  --var "CONFDIR=$root/etc/rspamd" --var "LOCAL_CONFDIR=$run/local" \
  --var "SHAREDIR=$share" --var "RULESDIR=$share/rules" --var "LUALIBDIR=$share/lualib" \
  --var "PLUGINSDIR=$share/plugins" --var "WWWDIR=$share/www" --var "DBDIR=$run/db" \
  --var "RUNDIR=$run" --var "LOGDIR=$run" -p "$run/rspamd.pid" >"$run/stdout.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$run"' EXIT

# Wait for the worker (first start compiles hyperscan databases).
for _ in $(seq 1 600); do
  if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then echo "rspamd exited:" >&2; cat "$run/stdout.log" "$run/rspamd.log" >&2; exit 1; fi
  sleep 0.2
done
python3 "$here/rspamd_client.py" --port "$port" "$@"
