#!/usr/bin/env python3
"""Fault test: a burst of SIGHUPs while mail flows through real Postfix.

usage: run_sighup.py BACKSTOP_BINARY

A private Postfix on 127.0.0.1 with backstop as its milter takes N inbound
messages over 8 parallel SMTP sessions (smtp-source) while the test sends
backstop 50 SIGHUPs, 20 ms apart, half of them with the configuration file
briefly invalid. Checks:
  1  every message is accepted (250): a reload never costs a message, and an
     invalid file is refused while the running configuration stays;
  2  backstop is still running and logged both outcomes (reloaded, refused);
  3  it still exits 0 on SIGTERM.
Exit status 0 when all checks pass, 1 otherwise.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import DAEMON_TOML, BackstopServe, Checks, Fail, Postfix, free_ports, say, wait_for  # noqa: E402

N = 400
HUPS = 50


def config(milter_port, state, logfile, valid=True):
    return DAEMON_TOML + f"""\
[milter]
listen = "inet:127.0.0.1:{milter_port}"
threads = 2
[policy]
listen = ""
[metrics]
listen = ""
[state]
dir = "{state}"
[domains]
local = ["example.test"]
[log]
target = "{logfile}"
flush_ms = 0
""" + ("" if valid else "[milter]\nsocket_mode = \"0999\"\n")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 1
    binary = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0 or not shutil.which("postfix") or not shutil.which("smtp-source"):
        print("needs root, postfix and smtp-source")
        return 1
    tmp = tempfile.mkdtemp(prefix="backstop-sighup-")
    os.chmod(tmp, 0o755)  # Postfix's daemons run as postfix and must reach the queue
    smtp_port, milter_port = free_ports(2)
    pf = Postfix(os.path.join(tmp, "pf"), smtp_port, milter_port)
    os.makedirs(os.path.join(tmp, "bs"))
    bs = BackstopServe(binary, os.path.join(tmp, "bs"), milter_port)
    check = Checks()
    failures = check.failures

    def write_config(valid):
        with open(bs.config + ".new", "w") as f:
            f.write(config(milter_port, bs.state, bs.logfile, valid))
        os.replace(bs.config + ".new", bs.config)
    try:
        write_config(True)
        checker = pf.check_async()
        bs.start()
        pf.start(checker)
        say(f"postfix on {smtp_port}, backstop milter on {milter_port}; {N} messages, {HUPS} SIGHUPs")

        def hups():
            for i in range(HUPS):
                write_config(valid=(i % 2 == 0))
                bs.proc.send_signal(signal.SIGHUP)
                time.sleep(0.02)
            write_config(True)

        t = threading.Thread(target=hups)
        t.start()
        # -N: a fresh Message-ID each; -t/-f: an ordinary inbound message.
        p = subprocess.run(["smtp-source", "-c", "-s", "8", "-m", str(N), "-l", "2048",
                            "-f", "sender@remote.example", "-t", "user@example.test",
                            f"127.0.0.1:{smtp_port}"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        t.join()
        # smtp-source exits non-zero when the server refuses anything.
        check(p.returncode == 0,
              f"all {N} messages accepted during the SIGHUP burst (smtp-source rc {p.returncode}: "
              f"{p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ''})",
              logs=(("maillog", pf.maillog), ("backstop log", bs.logfile)))
        check(bs.proc.poll() is None, "backstop still runs after the burst", logs=(("backstop stderr", bs.stderr),))
        reloaded = bs.log_lines(r"reloaded configuration")
        refused = bs.log_lines(r"reload refused")
        check(reloaded and refused, f"reloads logged: {len(reloaded)} done, {len(refused)} refused (invalid file)",
              logs=(("backstop log", bs.logfile),))
        def delivered():
            return sum(len(files) for _r, _d, files in os.walk(os.path.join(pf.root, "mail")))
        wait_for(lambda: delivered() >= N, 120)
        check(delivered() >= N, f"{delivered()} of {N} messages delivered")
    except Fail as e:
        failures.append(str(e))
        say(f"FAIL {e}")
    finally:
        try:
            bs.stop()
            say("ok   backstop exits 0 on SIGTERM after the burst")
        except Fail as e:
            failures.append(str(e))
            say(f"FAIL {e}")
        pf.stop()
        if os.environ.get("BACKSTOP_E2E_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
