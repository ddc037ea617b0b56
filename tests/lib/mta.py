"""Helpers of the tests that run MTAs which cannot be installed beside Postfix
(Debian's exim4 and sendmail packages conflict with postfix): their .deb
files, downloaded by scripts/install-deps.sh, are unpacked into the test's
private directory and run from there; the accounts they need exist only in
a private mount namespace; a small SMTP sink stands for the rest of the
Internet. Imported by the test scripts; not a test itself.
"""
import glob
import os
import socket
import subprocess
import threading

# Where scripts/install-deps.sh puts the MTA packages it downloads.
DEBS_DIR = os.environ.get("BACKSTOP_TEST_DEBS", "/var/cache/backstop-test-debs")


def extract(packages, dest):
    """Unpacks the newest downloaded .deb of each package into dest (dpkg-deb
    -x: files only, no maintainer scripts). Returns None, or why it cannot."""
    os.makedirs(dest, exist_ok=True)
    for name in packages:
        debs = sorted(glob.glob(os.path.join(DEBS_DIR, f"{name}_*.deb")))
        if not debs:
            return f"{name}_*.deb not in {DEBS_DIR} (scripts/install-deps.sh downloads it)"
        subprocess.run(["dpkg-deb", "-x", debs[-1], dest], check=True)
    return None


def free_system_id():
    """A number below 1000 that is neither a uid nor a gid here, for an
    account that exists only inside a private mount namespace."""
    return free_system_ids(1)[0]


def free_system_ids(count):
    """count distinct numbers below 1000 that are neither uids nor gids
    here (see free_system_id)."""
    import grp
    import pwd
    used = {p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
    ids = [n for n in range(899, 100, -1) if n not in used][:count]
    if len(ids) < count:
        raise RuntimeError("no free system uid/gid")
    return ids


def namespace_script(path, work, accounts=(), files=None, usr=None, qualify_hostname=False, hosts=(), writable=()):
    """Writes a shell script that, run under `unshare --mount --propagation
    private`, lays an overlay over /etc (its changes under work/etc-upper,
    never on the machine's /etc), adds `accounts` [(name, id)] as users and
    groups, writes `files` {absolute path under /etc: text}, then execs its
    arguments. usr: a directory (an unpacked package's usr/) laid read-only
    over /usr, so the package's files are where it expects them.
    qualify_hostname: /etc/hosts gives this host's name a domain first
    (sendmail waits a minute at start for a qualified name otherwise).
    hosts: further names /etc/hosts resolves to 127.0.0.9 (mail domains of
    the test that must "exist", as sendmail checks a sender's domain).
    writable: further directories (such as /var, /run) laid over like /etc,
    their changes under work/<name>-upper, for a program whose spool, chroot
    or socket paths are compiled in. The mounts vanish with the last process
    of the namespace."""
    lines = ["#!/bin/sh", "set -e",
             f"mkdir -p {work}/etc-upper {work}/etc-work",
             f"mount -t overlay overlay -o lowerdir=/etc,upperdir={work}/etc-upper,workdir={work}/etc-work /etc"]
    for top in writable:
        name = top.strip("/").replace("/", "-")
        assert top.startswith("/") and name and name != "etc"
        lines.append(f"mkdir -p {work}/{name}-upper {work}/{name}-work")
        lines.append(f"mount -t overlay overlay -o lowerdir={top},upperdir={work}/{name}-upper,workdir={work}/{name}-work {top}")
    if usr:
        lines.append(f"mount -t overlay overlay -o lowerdir={usr}:/usr /usr")
    if qualify_hostname:
        # The mail domains on an address no interface has: sendmail counts the
        # names of its own addresses as local (class w).
        # Each on its own line, so that each is its own canonical name.
        other = "".join(f'; echo "127.0.0.9 {h}"' for h in hosts)
        lines.append(f'{{ echo "127.0.0.1 $(hostname).backstop.test $(hostname)"{other}; cat /etc/hosts; }} > /etc/hosts.new')
        lines.append("mv /etc/hosts.new /etc/hosts")
    for name, n in accounts:
        lines.append(f"echo '{name}:x:{n}:{n}::/nonexistent:/usr/sbin/nologin' >> /etc/passwd")
        lines.append(f"echo '{name}:x:{n}:' >> /etc/group")
    for target, text in (files or {}).items():
        assert target.startswith("/etc/") and "'" not in text
        lines.append(f"mkdir -p {os.path.dirname(target)}")
        lines.append(f"printf '%s' '{text}' > {target}")
    lines.append('exec "$@"')
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o755)
    return ["unshare", "--mount", "--propagation", "private", "--", path]


class SmtpSink:
    """A minimal SMTP server on host:port (a free port) that accepts
    everything and keeps each transaction as {'from': ..., 'to': [...],
    'data': ...}."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.messages = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        f = conn.makefile("rb")
        send = lambda s: conn.sendall(s.encode() + b"\r\n")  # noqa: E731
        try:
            send("220 sink.test ESMTP")
            msg = {"from": None, "to": [], "data": ""}
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode(errors="replace").rstrip("\r\n")
                verb = cmd[:4].upper()
                if verb in ("EHLO", "HELO"):
                    send("250 sink.test")
                elif verb == "MAIL":
                    msg = {"from": cmd.split(":", 1)[1].strip().split()[0].strip("<>"), "to": [], "data": ""}
                    send("250 ok")
                elif verb == "RCPT":
                    msg["to"].append(cmd.split(":", 1)[1].strip().split()[0].strip("<>"))
                    send("250 ok")
                elif verb == "DATA":
                    send("354 go")
                    data = []
                    while (d := f.readline()) and d.rstrip(b"\r\n") != b".":
                        data.append(d.decode(errors="replace"))
                    msg["data"] = "".join(data)
                    with self.lock:
                        self.messages.append(msg)
                    send("250 queued")
                elif verb == "QUIT":
                    send("221 bye")
                    return
                else:
                    send("250 ok")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()
