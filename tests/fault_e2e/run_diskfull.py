#!/usr/bin/env python3
"""Fault test: the file system of backstop's state fills up while outbound
mail flows through real Postfix, and nothing acknowledged is lost.

usage: run_diskfull.py BACKSTOP_BINARY

backstop's state.dir lies on a tmpfs of 8 MiB that the test mounts. A private
Postfix on 127.0.0.1 (milter = backstop, milter_default_action = tempfail)
takes outbound messages, each with its own Message-ID, from 127.0.0.2 (an
outbound network for backstop) over 16 parallel SMTP sessions. Once some are
acknowledged, a filler file takes every free byte of the tmpfs while the
senders carry on; /healthz is polled throughout. Once the failure has been
seen, the filler is removed and the senders go on, then retry what was
deferred, as an MTA would. Checks:
  0  no message ever gets a 5xx;
  1  while the file system is full (and not before), ledger commits really
     fail: backstop logs failed commits that name the full file system
     (LMDB reports ENOSPC, or EIO for a short write), messages get 451 4.3.0
     at end of data, and /healthz answers 503 (each seen at least once);
  2  after the filler is removed, /healthz answers 200 again and mail is
     accepted: new messages, and every message deferred while full on retry;
  3  every message Postfix acknowledged (250 at end of data) has its ledger
     record (`backstop ledger show`, read after backstop stopped);
  4  backstop exits 0 on SIGTERM.
Everything is stopped by PID; the tmpfs is unmounted in every case (a
failure, an exception, SIGTERM from ctest's timeout). Exit status 0 when all
checks pass, 1 otherwise (also when it cannot run: not root, no postfix or
swaks, no tmpfs).
"""
import errno
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import (BackstopServe, Checks, Fail, Interrupted, Postfix, free_ports, http_get,  # noqa: E402
                       ignore_signals, missing_prerequisites, replies, reply_to, say, serve_toml,
                       stop_on_signals, swaks, wait_for)

SESSIONS = 16
# The tmpfs: far more than the state needs, small enough to fill in a moment.
FS_SIZE = "8m"
# Acknowledged messages before the fill, and new ones after the recovery.
BEFORE, AFTER = 40, 40
# Longest wait for the failure to show once the file system is full, and
# for each further phase.
FULL_TIMEOUT, PHASE_TIMEOUT = 120, 300
# Sends of one message before it counts as lost (a deferral is retried).
MAX_TRIES = 20
OUT_SRC = "127.0.0.2"
TEMPFAIL = "451 4.3.0"


class Backstop(BackstopServe):
    def __init__(self, binary, tmp, milter_port, metrics_port, state):
        super().__init__(binary, tmp, milter_port, extra_ports=(metrics_port,))
        self.state = state
        self.metrics_port = metrics_port
        with open(self.config, "w") as f:
            f.write(serve_toml(milter_port, metrics_port, state, self.logfile, outbound_src=OUT_SRC))

    def healthz(self):
        """/healthz's status code, or 0 when it does not answer."""
        return http_get(self.metrics_port, "/healthz")[0]


def fill(path):
    """Writes zeros to `path` until the file system has no byte left."""
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 16, 4096, 1):
            chunk = bytes(size)
            while True:
                try:
                    if f.write(chunk) == 0:
                        break
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 1
    binary = os.path.abspath(sys.argv[1])
    why = missing_prerequisites("postfix", "swaks", "mount")
    if why:
        print(why)
        return 1
    stop_on_signals()
    tmp = tempfile.mkdtemp(prefix="backstop-diskfull-")
    os.chmod(tmp, 0o755)  # Postfix's daemons run as postfix and must reach the queue
    fs = os.path.join(tmp, "statefs")
    os.makedirs(fs)
    mounted = False
    smtp_port, milter_port, metrics_port = free_ports(3)
    pf = Postfix(os.path.join(tmp, "pf"), smtp_port, milter_port)
    os.makedirs(os.path.join(tmp, "bs"))
    bs = Backstop(binary, os.path.join(tmp, "bs"), milter_port, metrics_port, os.path.join(fs, "state"))
    filler = os.path.join(fs, "filler")
    check = Checks()
    failures = check.failures
    stop = threading.Event()
    threads = []

    try:
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE},mode=0755", "tmpfs", fs],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            raise Fail(f"cannot mount a tmpfs: {p.stdout.strip()}")
        mounted = True
        checker = pf.check_async()
        bs.start()
        pf.start(checker)
        say(f"postfix on {smtp_port}, backstop milter on {milter_port}, metrics on {metrics_port}; "
            f"state on a {FS_SIZE} tmpfs")

        lock = threading.Lock()
        # phase: "before" the fill, "full", "freed" (filler removed), "retry"
        # (no new messages: deferred ones are retried until accepted).
        state = {"phase": "before", "seq": 0}
        acked = []             # (message id, phase when answered)
        deferred = []          # (message id, phase when answered, reply)
        retry = []             # message ids deferred, to send again
        tries = {}             # message id -> sends so far
        health = []            # (phase, status)

        def send(mid):
            out = swaks(smtp_port, "alice@example.test", "bob@remote.example", src=OUT_SRC,
                        extra=("--header", f"Message-Id: <{mid}>", "--header", "Subject: diskfull test"),
                        timeout=60)
            answers = [r for _, r in replies(out)]
            final = reply_to(out, ".") or ""
            with lock:
                phase = state["phase"]
                if any(r.startswith("5") for r in answers):
                    failures.append(f"message {mid}: a 5xx: {answers}")
                elif final.startswith("250"):
                    acked.append((mid, phase))
                else:  # 4xx somewhere, or the connection failed: retried later
                    deferred.append((mid, phase, final or (answers[-1] if answers else "no answer")))
                    if tries[mid] < MAX_TRIES:
                        retry.append(mid)
                    else:
                        failures.append(f"message {mid}: still deferred after {MAX_TRIES} tries: {answers}")

        def sender():
            # New messages until the retry phase, then the deferred ones until
            # none is left (a message deferred again goes back on the list
            # before its sender looks for the next one).
            while not stop.is_set():
                with lock:
                    if state["phase"] == "retry":
                        if not retry:
                            return
                        mid = retry.pop(0)
                    else:
                        state["seq"] += 1
                        mid = f"diskfull.{state['seq']}.{os.getpid()}@example.test"
                    tries[mid] = tries.get(mid, 0) + 1
                send(mid)

        def poller():
            while not stop.is_set():
                status = bs.healthz()
                with lock:
                    health.append((state["phase"], status))
                time.sleep(0.1)

        senders = [threading.Thread(target=sender) for _ in range(SESSIONS)]
        threads = senders + [threading.Thread(target=poller)]
        for t in threads:
            t.start()

        def count(lst, phase):
            with lock:
                return sum(1 for x in lst if x[1] == phase)

        if not wait_for(lambda: len(acked) >= BEFORE, PHASE_TIMEOUT, step=0.05):
            raise Fail(f"only {len(acked)} messages acknowledged before the fill")
        failed_before = bs.log_lines(r"writes failed")
        check(not failed_before, f"no commit fails before the fill {failed_before[:2]}")
        say(f"{len(acked)} acknowledged; filling the file system ({free_bytes(fs)} bytes free)")
        with lock:
            state["phase"] = "full"
        fill(filler)
        say(f"full: {free_bytes(fs)} bytes free, filler {os.path.getsize(filler)} bytes")

        def failure_seen():
            with lock:
                t = any(ph == "full" and r.startswith(TEMPFAIL) for _, ph, r in deferred)
                h = any(ph == "full" and s == 503 for ph, s in health)
            return t and h
        wait_for(failure_seen, FULL_TIMEOUT, step=0.1)
        time.sleep(2)  # a little longer under the failure
        with lock:
            state["phase"] = "freed"
        os.remove(filler)
        say(f"filler removed ({free_bytes(fs)} bytes free); "
            f"while full: {count(acked, 'full')} acknowledged, {count(deferred, 'full')} deferred")

        with lock:
            full_answers = [r for _, ph, r in deferred if ph == "full"]
            full_health = [s for ph, s in health if ph == "full"]
        enospc = bs.log_lines(r"\(state\) commit of \d+ writes failed: lmdb commit: "
                              r"(No space left on device|Input/output error) \(the file system holding .* is full")
        check(enospc, f"while full, ledger commits fail and the log says the file system is full "
              f"({len(enospc)} failed attempts logged)", logs=(("backstop log", bs.logfile),))
        check(any(r.startswith(TEMPFAIL) for r in full_answers),
              f"while full, messages are deferred with {TEMPFAIL} "
              f"({sum(r.startswith(TEMPFAIL) for r in full_answers)} of {len(full_answers)} deferrals)",
              logs=(("maillog", pf.maillog),))
        check(503 in full_health, f"while full, /healthz answers 503 ({full_health.count(503)} of "
              f"{len(full_health)} polls; others {sorted(set(full_health) - {503})})")

        healthy = wait_for(lambda: bs.healthz() == 200, 60, step=0.1)
        check(healthy, "after the filler is removed, /healthz answers 200 again")
        if not wait_for(lambda: count(acked, "freed") >= AFTER, PHASE_TIMEOUT, step=0.05):
            failures.append(f"only {count(acked, 'freed')} new messages acknowledged after the recovery")
        with lock:
            state["phase"] = "retry"
            to_retry = len(retry)
        say(f"{count(acked, 'freed')} acknowledged after the recovery; retrying {to_retry} deferred messages")

        for t in senders:
            t.join(timeout=PHASE_TIMEOUT)
        stop.set()
        for t in threads:
            t.join(timeout=120)
        with lock:
            later = [(m, r) for m, ph, r in deferred if ph == "retry"]
            ids_deferred = {m for m, _, _ in deferred}
            ids_acked = {m for m, _ in acked}
        check(not [f for f in failures if "a 5xx" in f], "no message got a 5xx")
        check(not (ids_deferred - ids_acked) and not retry,
              f"every one of the {len(ids_deferred)} deferred messages was accepted on retry"
              + (f" (not: {sorted(ids_deferred - ids_acked)[:5]}; deferred again: {later[:3]})"
                 if ids_deferred - ids_acked else ""))

        bs.stop()
        say("ok   backstop exits 0 on SIGTERM")
        p = subprocess.run([binary, "ledger", "show", "--state", bs.state, "--limit", "1000000"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        in_ledger = {line.split(">", 1)[0][1:] for line in p.stdout.splitlines() if line.startswith("<")}
        missing = sorted(ids_acked - in_ledger)
        check(p.returncode == 0 and not missing,
              f"all {len(ids_acked)} acknowledged messages are in the ledger (ledger show rc {p.returncode}"
              + (f"; missing {len(missing)}: {missing[:5]}" if missing else "") + ")",
              logs=(("backstop log", bs.logfile),))
    except (Fail, Interrupted) as e:
        failures.append(str(e))
        say(f"FAIL {e}")
    finally:
        stop.set()
        ignore_signals()  # the cleanup below must finish
        try:
            bs.stop()
        except Fail as e:
            failures.append(str(e))
        if bs.proc and bs.proc.poll() is None:
            bs.proc.kill()
            bs.proc.wait()
        pf.stop()
        for t in threads:
            t.join(timeout=90)
        if mounted and os.path.ismount(fs):
            if subprocess.run(["umount", fs], stderr=subprocess.DEVNULL).returncode != 0:
                subprocess.run(["umount", "-l", fs])  # busy: detach now, freed once unused
        if os.environ.get("BACKSTOP_E2E_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
