#!/usr/bin/env python3
"""Fault test: kill -9 of `backstop serve` while outbound mail flows through
real Postfix, and nothing acknowledged is lost.

usage: run_kill9.py BACKSTOP_BINARY

A private Postfix on 127.0.0.1 (milter = backstop, milter_default_action =
tempfail) takes N outbound messages (each with its own Message-ID) from
127.0.0.2, an outbound network for backstop, over 16 parallel SMTP sessions.
When a random number of them have been acknowledged, backstop is killed with
SIGKILL and restarted a moment later; the senders carry on (Postfix answers
4xx while the milter is away). Then:
  0  every message gets 250 or 4xx, never 5xx; a 4xx is retried, as an MTA
     would, until every message is accepted;
  1  every message Postfix acknowledged (250 at end of data) has its ledger
     record (`backstop ledger show`), whether it was answered before or after
     the kill;
  2  with BATV off and no ledger warm-up, a bounce of each acknowledged
     message (Postfix's DSN format: multipart/report with the original's
     headers) sent to the original sender is accepted as ours;
  3  a bounce quoting a Message-ID we never sent is refused 550 5.7.1, so
     check 2 can fail;
  4  with backstop stopped (SIGSTOP), Postfix's milter timeouts apply: the
     message is deferred with 4xx, neither lost nor refused; after SIGCONT
     its retry is accepted and recorded.
Everything is stopped by PID. Exit status 0 when all checks pass, 1 otherwise
(also when it cannot run: not root, no postfix or swaks).
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import (DAEMON_TOML, BackstopServe, Checks, Fail, Postfix, free_ports, replies, reply_to, say,  # noqa: E402
                       swaks, wait_for)

N = int(os.environ.get("BACKSTOP_KILL9_MESSAGES", "200"))
SESSIONS = 16
OUT_SRC, IN_SRC = "127.0.0.2", "127.0.0.3"


class Backstop(BackstopServe):
    def __init__(self, binary, tmp, milter_port):
        super().__init__(binary, tmp, milter_port)
        with open(self.config, "w") as f:
            f.write(DAEMON_TOML + f"""\
[milter]
listen = "inet:127.0.0.1:{milter_port}"
threads = 2
[policy]
listen = ""
[metrics]
listen = ""
[state]
dir = "{self.state}"
[domains]
local = ["example.test"]
[outbound]
networks = ["{OUT_SRC}/32"]
[batv]
mode = "off"
sign = false
[ledger]
warmup_days = 0
[log]
target = "{self.logfile}"
flush_ms = 0
""")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def dsn(mid, rcpt="alice@example.test"):
    """A bounce of message `mid` in the format Postfix's bounce(8) writes."""
    return f"""\
From: MAILER-DAEMON@mx.remote.example (Mail Delivery System)
To: {rcpt}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="B1.{mid}"
Message-Id: <dsn.{mid}>
Date: Sun,  6 Dec 2026 04:00:00 +0000 (UTC)

This is a MIME-encapsulated message.

--B1.{mid}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.remote.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<bob@remote.example>: unknown user: "bob"

--B1.{mid}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.example
Arrival-Date: Sun,  6 Dec 2026 03:59:59 +0000 (UTC)

Final-Recipient: rfc822; bob@remote.example
Original-Recipient: rfc822;bob@remote.example
Action: failed
Status: 5.1.1
Diagnostic-Code: X-Postfix; unknown user: "bob"

--B1.{mid}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: alice@example.test
To: bob@remote.example
Subject: kill9 test
Message-Id: <{mid}>
Date: Sun,  6 Dec 2026 03:59:58 +0000

--B1.{mid}--
""".replace("\n", "\r\n")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 1
    binary = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0 or not shutil.which("postfix") or not shutil.which("swaks"):
        print("needs root, postfix and swaks")
        return 1
    tmp = tempfile.mkdtemp(prefix="backstop-kill9-")
    os.chmod(tmp, 0o755)  # Postfix's daemons run as postfix and must reach the queue
    smtp_port, milter_port = free_ports(2)
    pf = Postfix(os.path.join(tmp, "pf"), smtp_port, milter_port)
    os.makedirs(os.path.join(tmp, "bs"))
    bs = Backstop(binary, os.path.join(tmp, "bs"), milter_port)
    check = Checks()
    failures = check.failures

    try:
        checker = pf.check_async()
        bs.start()
        pf.start(checker)
        say(f"postfix on {smtp_port}, backstop milter on {milter_port}; {N} messages, {SESSIONS} sessions")

        acked, lock = [], threading.Lock()
        todo = [(i, 0) for i in range(N)]
        acked_before_kill = []

        tempfailed = []

        def sender():
            # Like an MTA's client: a 4xx is retried (after a pause), a 250 or
            # 5xx is final.
            while True:
                with lock:
                    if not todo:
                        return
                    i, tries = todo.pop(0)
                mid = f"kill9.{i}.{os.getpid()}@example.test"
                out = swaks(smtp_port, "alice@example.test", "bob@remote.example", src=OUT_SRC,
                            extra=("--header", f"Message-Id: <{mid}>", "--header", "Subject: kill9 test"),
                            timeout=60)
                answers = [r for _, r in replies(out)]
                final = reply_to(out, ".") or ""
                if final.startswith("250"):
                    with lock:
                        acked.append(mid)
                elif any(r.startswith("5") for r in answers):
                    with lock:
                        failures.append(f"message {i}: a 5xx: {answers}")
                else:  # 4xx somewhere, or the connection failed: retry
                    with lock:
                        tempfailed.append(i)
                        if tries < 50:
                            todo.append((i, tries + 1))
                        else:
                            failures.append(f"message {i}: still not accepted after 50 tries: {answers}")
                    time.sleep(0.2)

        threads = [threading.Thread(target=sender) for _ in range(SESSIONS)]
        for t in threads:
            t.start()
        kill_at = random.randint(N // 5, N // 2)
        wait_for(lambda: len(acked) >= kill_at, 300, step=0.01)
        bs.kill9()
        with lock:
            acked_before_kill = list(acked)
        say(f"killed backstop -9 after {len(acked_before_kill)} acknowledged messages")
        time.sleep(1.0)
        bs.start()
        for t in threads:
            t.join()
        say(f"{len(acked)} of {N} acknowledged ({len(acked) - len(acked_before_kill)} after the restart)")
        check(len(acked_before_kill) >= kill_at and len(acked) > len(acked_before_kill),
              "messages were acknowledged both before the kill and after the restart")
        check(not [f for f in failures if f.startswith("message")],
              f"every message got 250 or 4xx, never 5xx ({len(tempfailed)} deferrals, all retried)")
        check(len(acked) == N, f"every message was accepted in the end ({len(acked)} of {N})")

        # 1: every acknowledged message has its ledger record. The running
        # daemon holds the LMDB environment; `ledger show` reads it alongside.
        missing = []
        for mid in acked:
            p = subprocess.run([binary, "ledger", "show", "--state", bs.state, mid],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if p.returncode != 0:
                missing.append(mid)
        check(not missing, f"all {len(acked)} acknowledged messages are in the ledger"
              + (f" (missing {len(missing)}: {missing[:5]})" if missing else ""),
              logs=(("backstop log", bs.logfile), ("backstop stderr", bs.stderr)))

        # 2: their bounces are accepted as ours.
        refused = []
        dsn_dir = os.path.join(tmp, "dsn")
        os.makedirs(dsn_dir)
        sample = acked if len(acked) <= 64 else random.sample(acked, 64) + acked_before_kill[-8:]
        for mid in sample:
            path = os.path.join(dsn_dir, mid)
            with open(path, "w", newline="") as f:
                f.write(dsn(mid))
            out = swaks(smtp_port, "", "alice@example.test", src=IN_SRC, data=path)
            r = reply_to(out, ".") or ""
            if not r.startswith("250"):
                refused.append((mid, r))
        check(not refused, f"bounces of {len(sample)} acknowledged messages (the last 8 before the kill "
              f"among them) are accepted as ours" + (f": {refused[:3]}" if refused else ""),
              logs=(("backstop log", bs.logfile),))

        # 4: SIGSTOP: Postfix's milter timeouts apply and the message is
        # deferred (4xx), not lost and not refused; after SIGCONT it passes.
        bs.proc.send_signal(signal.SIGSTOP)
        stopped_mid = f"sigstop.{os.getpid()}@example.test"
        out = swaks(smtp_port, "alice@example.test", "bob@remote.example", src=OUT_SRC,
                    extra=("--header", f"Message-Id: <{stopped_mid}>"), timeout=90)
        answers = [r for _, r in replies(out)]
        bs.proc.send_signal(signal.SIGCONT)
        check(any(r.startswith("4") for r in answers) and not any(r.startswith(("5", "250 2.0.0 Ok: queued"))
                                                                  for r in answers),
              f"with backstop stopped (SIGSTOP) a message is deferred, not lost or refused: {answers[-2:]}",
              logs=(("maillog", pf.maillog),))
        out = swaks(smtp_port, "alice@example.test", "bob@remote.example", src=OUT_SRC,
                    extra=("--header", f"Message-Id: <{stopped_mid}>"), timeout=60)
        r = reply_to(out, ".") or ""
        ledger = subprocess.run([binary, "ledger", "show", "--state", bs.state, stopped_mid],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        check(r.startswith("250") and ledger == 0, f"after SIGCONT the retry is accepted and recorded ({r})")

        # 3: the check can fail: a bounce of a message we never sent.
        path = os.path.join(dsn_dir, "forged")
        with open(path, "w", newline="") as f:
            f.write(dsn("never-sent.1@example.test"))
        r = reply_to(swaks(smtp_port, "", "alice@example.test", src=IN_SRC, data=path), ".") or ""
        check(r.startswith("550"), f"a bounce of a message we never sent is refused ({r})",
              logs=(("backstop log", bs.logfile),))
    except Fail as e:
        failures.append(str(e))
        say(f"FAIL {e}")
    finally:
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
