#!/usr/bin/env python3
"""Fault test: `backstop serve` with 256 file descriptors in all, under floods
of connections, keeps serving mail through real Postfix.

usage: run_fdlimit.py BACKSTOP_BINARY

backstop serve runs under RLIMIT_NOFILE 256, soft and hard (serve raises the
soft limit to the hard one, so both are set), with its milter behind a
private Postfix on 127.0.0.1 (milter_default_action = tempfail; every SMTP
session opens a new milter connection) and /metrics on loopback.
Mail is checked with three messages, whose answers say that backstop judged
them: an inbound message (250), a forged bounce (550 5.7.1) and an outbound
message (250, and its ledger record).
  1  the daemon's limit is 256 soft and hard (/proc/PID/limits);
  2  2,000 connection attempts at the /metrics port, held open for a while:
     meanwhile mail gets its usual answers (the HTTP endpoint takes at most
     64 connections, so the flood cannot take the milter's descriptors), and
     no accept fails for want of descriptors;
  3  afterwards /metrics scrapes again (200, with backstop's metrics);
  4  idle connections to the milter port until the daemon has no descriptor
     left (accept fails with EMFILE, logged): a message now gets 4xx from
     Postfix, never 5xx, and the daemon keeps running;
  5  once those connections are closed the daemon accepts again: mail gets
     its usual answers, /metrics scrapes, /healthz answers 200;
  6  the daemon never exited, and exits 0 on SIGTERM.
Everything is stopped by PID, also on a failure or SIGTERM. Exit status 0 when all checks pass, 1 otherwise
(also when it cannot run: not root, no postfix, swaks or prlimit).
"""
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import (BackstopServe, Checks, Fail, Interrupted, Postfix, dsn, free_ports, http_get,  # noqa: E402
                       ignore_signals, missing_prerequisites, replies, reply_to, say, serve_toml,
                       stop_on_signals, swaks, wait_for)

NOFILE = 256
HTTP_FLOOD = 2000
# Idle milter connections: more than the daemon has descriptors.
MILTER_FLOOD = 2 * NOFILE
# How long the HTTP flood is held (longer than its 10 s request deadline, so
# the endpoint's slots turn over while mail flows).
HOLD = 12
OUT_SRC, IN_SRC = "127.0.0.2", "127.0.0.3"


class Backstop(BackstopServe):
    def __init__(self, binary, tmp, milter_port, metrics_port):
        super().__init__(binary, tmp, milter_port, extra_ports=(metrics_port,),
                         prefix=("prlimit", f"--nofile={NOFILE}:{NOFILE}", "--"))
        self.metrics_port = metrics_port
        with open(self.config, "w") as f:
            f.write(serve_toml(milter_port, metrics_port, self.state, self.logfile, outbound_src=OUT_SRC))

    def get(self, path):
        """(status, body) of GET path, or (0, error) when there is no answer."""
        return http_get(self.metrics_port, path)

    def descriptors(self):
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        except OSError:
            return -1


def open_flood(port, n):
    """n non-blocking connection attempts to 127.0.0.1:port, kept open."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def close_all(socks):
    for s in socks:
        s.close()
    socks.clear()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 1
    binary = os.path.abspath(sys.argv[1])
    why = missing_prerequisites("postfix", "swaks", "prlimit")
    if why:
        print(why)
        return 1
    stop_on_signals()  # ctest's timeout: still stop what was started
    # This process holds both floods at once.
    want = HTTP_FLOOD + MILTER_FLOOD + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    tmp = tempfile.mkdtemp(prefix="backstop-fdlimit-")
    os.chmod(tmp, 0o755)  # Postfix's daemons run as postfix and must reach the queue
    smtp_port, milter_port, metrics_port = free_ports(3)
    pf = Postfix(os.path.join(tmp, "pf"), smtp_port, milter_port)
    os.makedirs(os.path.join(tmp, "bs"))
    bs = Backstop(binary, os.path.join(tmp, "bs"), milter_port, metrics_port)
    dsn_path = os.path.join(tmp, "forged.eml")
    with open(dsn_path, "w", newline="") as f:
        f.write(dsn(f"never-sent.{os.getpid()}@example.test"))
    check = Checks()
    failures = check.failures
    flood = []
    seq = [0]

    def mail_round(label):
        """The three messages; a list of what went wrong (empty: all as expected).
        Outbound first: the ledger's first record ends its warm-up, after
        which a bounce quoting a Message-ID never sent is refused."""
        wrong = []
        seq[0] += 1
        n = f"{label}.{seq[0]}.{os.getpid()}"
        mid = f"out.{n}@example.test"
        out = swaks(smtp_port, "alice@example.test", "bob@remote.example", src=OUT_SRC,
                    extra=("--header", f"Message-Id: <{mid}>"))
        r = reply_to(out, ".") or ""
        ledger = subprocess.run([binary, "ledger", "show", "--state", bs.state, mid],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        if not r.startswith("250") or ledger != 0:
            wrong.append(f"outbound: {replies(out)}, ledger show rc {ledger}")
        out = swaks(smtp_port, "carol@remote.example", "alice@example.test", src=IN_SRC,
                    extra=("--header", f"Message-Id: <in.{n}@remote.example>"))
        r = reply_to(out, ".") or ""
        if not r.startswith("250"):
            wrong.append(f"inbound: {replies(out)}")
        out = swaks(smtp_port, "", "alice@example.test", src=IN_SRC, data=dsn_path)
        r = reply_to(out, ".") or ""
        if not r.startswith("550 5.7.1"):
            wrong.append(f"forged bounce: {replies(out)}")
        return wrong

    try:
        checker = pf.check_async()
        bs.start()
        pf.start(checker)
        say(f"postfix on {smtp_port}, backstop milter on {milter_port}, metrics on {metrics_port}")

        # 1: the limit.
        with open(f"/proc/{bs.proc.pid}/limits") as f:
            line = next((ln for ln in f if ln.startswith("Max open files")), "")
        check(line.split()[3:5] == [str(NOFILE), str(NOFILE)],
              f"the daemon runs with {NOFILE} descriptors, soft and hard ({' '.join(line.split()[3:5])}); "
              f"{bs.descriptors()} open at rest")
        wrong = mail_round("warmup")
        check(not wrong, f"before the floods, mail gets its usual answers {wrong}",
              logs=(("backstop log", bs.logfile),))

        # 2: the HTTP flood, held while mail flows.
        t0 = time.monotonic()
        flood = open_flood(metrics_port, HTTP_FLOOD)
        say(f"{len(flood)} connection attempts at /metrics held; daemon has {bs.descriptors()} descriptors open")
        results, most = [], [0]

        def watch():
            while time.monotonic() - t0 < HOLD:
                most[0] = max(most[0], bs.descriptors())
                time.sleep(0.05)
        watcher = threading.Thread(target=watch)
        watcher.start()
        rounds = 0
        while time.monotonic() - t0 < HOLD or rounds < 3:
            results += mail_round("httpflood")
            rounds += 1
        watcher.join()
        check(len(flood) == HTTP_FLOOD, f"{len(flood)} of {HTTP_FLOOD} connection attempts made")
        check(not results, f"while {len(flood)} connections to /metrics are held, {rounds} rounds of mail get "
              f"their usual answers (daemon at most {most[0]} descriptors) {results[:3]}",
              logs=(("backstop log", bs.logfile), ("maillog", pf.maillog)))
        emfile = bs.log_lines(r"accept failed")
        check(not emfile, f"no accept failed for want of descriptors during the /metrics flood {emfile[:2]}")
        close_all(flood)

        # 3: /metrics scrapes again.
        def scrapes():
            status, body = bs.get("/metrics")
            return status == 200 and "backstop_messages_total" in body
        check(wait_for(scrapes, 30, step=0.2), "after the /metrics flood, /metrics scrapes again")

        # 4: the milter port's flood takes every descriptor.
        flood = open_flood(milter_port, MILTER_FLOOD)
        exhausted = wait_for(lambda: bs.log_lines(r"milter accept failed: Too many open files"), 30, step=0.2)
        say(f"{len(flood)} idle milter connections; daemon has {bs.descriptors()} descriptors open")
        check(exhausted, "idle milter connections use up the daemon's descriptors (accept fails with EMFILE, logged)",
              logs=(("backstop log", bs.logfile),))
        out = swaks(smtp_port, "carol@remote.example", "alice@example.test", src=IN_SRC, timeout=60)
        answers = [r for _, r in replies(out)]
        check(any(r.startswith("4") for r in answers) and not any(r.startswith("5") for r in answers)
              and not (reply_to(out, ".") or "").startswith("250"),
              f"without descriptors, a message is deferred (4xx), never refused: {answers[-2:]}",
              logs=(("maillog", pf.maillog),))
        check(bs.proc.poll() is None, "the daemon keeps running without descriptors",
              logs=(("backstop stderr", bs.stderr),))
        close_all(flood)

        # 5: it serves again.
        def serving():
            status, _ = bs.get("/healthz")
            return status == 200
        check(wait_for(serving, 30, step=0.2), "once the idle connections are closed, /healthz answers 200")
        wrong = mail_round("after")
        check(not wrong, f"and mail gets its usual answers again {wrong}",
              logs=(("backstop log", bs.logfile), ("maillog", pf.maillog)))
        check(scrapes(), "and /metrics scrapes")
        # 6
        check(bs.proc.poll() is None, "the daemon never exited", logs=(("backstop stderr", bs.stderr),))
        bs.stop()
        say("ok   backstop exits 0 on SIGTERM")
    except (Fail, Interrupted) as e:
        failures.append(str(e))
        say(f"FAIL {e}")
    finally:
        ignore_signals()  # the cleanup below must finish
        close_all(flood)
        try:
            bs.stop()
        except Fail as e:
            failures.append(str(e))
        pf.stop()
        if os.environ.get("BACKSTOP_E2E_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
