#!/usr/bin/env python3
"""Real Exim (Debian's exim4-daemon-light, unpacked, never installed) with
examples/exim/exim4.conf and backstop's policy service.

usage: run_exim_e2e.py BACKSTOP_BINARY SOURCE_DIR

Exim cannot be installed beside Postfix, so its packages are unpacked into
a private directory (tests/lib/mta.py) and it runs as root inside a private
mount namespace, where an overlay on /etc adds its compiled-in account
`Debian-exim` and lists the test's configuration in Debian's
TRUSTED_CONFIG_LIST (/etc/exim4/trusted_configs), so that `-C` keeps root.
The configuration is examples/exim/exim4.conf with only its macro values
(ports, paths, the secret) changed. All on loopback, free ports; a small SMTP
sink stands for remote servers.

  a  a forged bounce to an untagged address of ours: the example ACL asks
     backstop through ${readsocket} and refuses it 550 5.7.1 at RCPT;
  b  ...to a tag with a wrong hash: 550 5.7.1 at RCPT;
  c  backstop's tag (`backstop batv sign`) passes Exim's ${prvscheck}: a
     bounce to it is accepted and delivered to the untagged mailbox;
  d  Exim's tag (return_path = ${prvs...} on its smtp transport) verifies in
     backstop: `backstop batv verify` says valid, and a bounce to it passes
     backstop's check in the ACL and reaches alice's mailbox;
  e  ordinary inbound mail passes;
  f  with backstop stopped, a bounce is deferred (4xx), not accepted.
Exit status: 0 passed, 1 a check failed or a prerequisite is missing.
"""
import binascii
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from mta import SmtpSink, extract, free_system_id, namespace_script  # noqa: E402
from pfharness import (DAEMON_TOML, BackstopServe, Checks, Fail, free_ports, ignore_signals,  # noqa: E402
                       listening, missing_prerequisites, pid_alive, reply_to, say, stop_on_signals, swaks,
                       wait_for)

KEEP = os.environ.get("BACKSTOP_E2E_KEEP") == "1"
SECRET = "exim-and-backstop-share-this-secret"


class Backstop(BackstopServe):
    def __init__(self, binary, tmp, policy_port):
        super().__init__(binary, tmp, policy_port)
        os.makedirs(self.state, exist_ok=True)
        keys = os.path.join(self.state, "batv.keys")
        fd = os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, f"0 {binascii.hexlify(SECRET.encode()).decode()}\n".encode())
        os.close(fd)
        with open(self.config, "w") as f:
            f.write(DAEMON_TOML + f"""\
[milter]
listen = ""
[policy]
listen = "inet:127.0.0.1:{policy_port}"
[metrics]
listen = ""
[state]
dir = "{self.state}"
[domains]
local = ["example.org"]
[batv]
mode = "enforce"
grace_days = 0
[ledger]
warmup_days = 0
[log]
target = "{self.logfile}"
flush_ms = 0
""")


def exim_config(example, values):
    """The example with the given macro values; every macro must exist once."""
    text = open(example).read()
    for name, value in values.items():
        text, n = re.subn(rf"^{name} = .*$", f"{name} = {value}", text, flags=re.M)
        if n != 1:
            raise Fail(f"examples/exim/exim4.conf: macro {name} defined {n} times")
    return text


def main():
    binary, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    why = missing_prerequisites("swaks", "unshare", "dpkg-deb")
    if why:
        print(f"FAIL: {why}")
        return 1
    check = Checks()
    stop_on_signals()
    tmp = tempfile.mkdtemp(prefix="backstop-exim-e2e-")
    os.chmod(tmp, 0o755)
    bs = exim = sink = None
    try:
        root = os.path.join(tmp, "exim-root")
        why = extract(["exim4-base", "exim4-daemon-light"], root)
        if why:
            raise Fail(why)
        exim_bin = os.path.join(root, "usr", "sbin", "exim4")
        eid = free_system_id()
        policy_port, smtp_port = free_ports(2)
        sink = SmtpSink()
        for d in ("spool", "log", "mail"):
            os.makedirs(os.path.join(tmp, d))
            os.chown(os.path.join(tmp, d), eid, eid)
        conf = os.path.join(tmp, "exim4.conf")
        with open(conf, "w") as f:
            f.write(exim_config(os.path.join(src, "examples", "exim", "exim4.conf"), {
                "BACKSTOP_POLICY": f"inet:127.0.0.1:{policy_port}",
                "PRVS_SECRET": SECRET,
                "SMARTHOST": f"127.0.0.1::{sink.port}",
                "MAIL_DIR": os.path.join(tmp, "mail"),
                "LISTEN_PORT": str(smtp_port),
                "SPOOL_DIR": os.path.join(tmp, "spool"),
                "LOG_PATH": os.path.join(tmp, "log", "%slog"),
                "EXIM_PATH": exim_bin,
            }))
        os.chmod(conf, 0o644)
        ns = namespace_script(os.path.join(tmp, "ns.sh"), tmp, [("Debian-exim", eid)],
                              {"/etc/exim4/trusted_configs": conf + "\n"})

        def exim_run(*args):
            return subprocess.run([*ns, exim_bin, "-C", conf, *args], capture_output=True, text=True, timeout=60)

        v = exim_run("-bV")
        say(v.stdout.splitlines()[0] if v.stdout else v.stderr)
        check(v.returncode == 0, f"exim -bV accepts the configuration {v.stderr.strip()}")

        bs = Backstop(binary, tmp, policy_port)
        bs.start()
        mainlog = os.path.join(tmp, "log", "mainlog")
        rejectlog = os.path.join(tmp, "log", "rejectlog")
        logs = [("backstop log", bs.logfile), ("exim mainlog", mainlog), ("exim rejectlog", rejectlog)]
        exim_err = open(os.path.join(tmp, "exim.stderr"), "w")
        exim = subprocess.Popen([*ns, exim_bin, "-C", conf, "-bdf", "-oP", os.path.join(tmp, "exim.pid")],
                                stdout=exim_err, stderr=exim_err, stdin=subprocess.DEVNULL)
        exim_err.close()
        if not wait_for(lambda: exim.poll() is not None or listening(smtp_port), 30) or exim.poll() is not None:
            raise Fail(f"exim did not start (exit {exim.poll()}): "
                       + open(os.path.join(tmp, "exim.stderr")).read() + open(mainlog).read()
                       if os.path.exists(mainlog) else "")
        say(f"exim {exim.pid} listens on 127.0.0.1:{smtp_port}; backstop policy on {policy_port}")

        def mbox(user):
            try:
                return open(os.path.join(tmp, "mail", user), errors="replace").read()
            except OSError:
                return ""

        # a, b
        out = swaks(smtp_port, "<>", "user@example.org", src="127.0.0.3")
        r = reply_to(out, "RCPT") or ""
        check(r.startswith("550") and "5.7.1" in r and "BATV" in r,
              f"a: a forged bounce to an untagged address is refused at RCPT: {r}", logs)
        out = swaks(smtp_port, "<>", "prvs=0123abcdef=user@example.org", src="127.0.0.3")
        r = reply_to(out, "RCPT") or ""
        check(r.startswith("550") and "5.7.1" in r, f"b: ...and one to a tag with a wrong hash: {r}", logs)

        # c: backstop's tag through Exim's ${prvscheck}
        p = subprocess.run([binary, "batv", "sign", "--secret", SECRET, "user@example.org"],
                           capture_output=True, text=True)
        tagged = p.stdout.strip()
        be = exim_run("-be", f"${{prvscheck{{{tagged}}}{{{SECRET}}}{{${{if eq{{$prvscheck_result}}{{1}}{{valid}}{{invalid}}}}}}}}")
        check(be.stdout.strip() == "valid", f"c: exim -be ${{prvscheck}} of backstop's {tagged}: {be.stdout.strip()}"
              f" {be.stderr.strip()}")
        mid = f"c-{os.getpid()}@remote.example"
        out = swaks(smtp_port, "<>", tagged, src="127.0.0.3",
                    extra=["--header", f"Message-Id: <{mid}>", "--header", "Subject: bounce to backstop's tag"])
        check((reply_to(out, "RCPT") or "").startswith("250") and (reply_to(out, ".") or "").startswith("250"),
              f"c: a bounce to {tagged} is accepted ({reply_to(out, 'RCPT')}; {reply_to(out, '.')})", logs)
        check(wait_for(lambda: mid in mbox("user"), 20),
              "c: ...and Exim's batv_strip router (${prvscheck}) delivers it to user's mailbox", logs)

        # d: Exim's tag verified by backstop
        out = swaks(smtp_port, "alice@example.org", "bob@remote.example", src="127.0.0.4")
        check((reply_to(out, ".") or "").startswith("250"), "d: alice's outbound message is accepted", logs)
        check(wait_for(lambda: sink.messages, 20), "d: ...and relayed to the sink", logs)
        sender = sink.messages[0]["from"] if sink.messages else ""
        check(re.fullmatch(r"prvs=0\d{3}[0-9a-f]{6}=alice@example\.org", sender) is not None,
              f"d: Exim signed the envelope sender: {sender}", logs)
        p = subprocess.run([binary, "batv", "verify", "--secret", SECRET, sender], capture_output=True, text=True)
        check(p.returncode == 0 and p.stdout.startswith("valid"),
              f"d: backstop batv verify {sender}: {p.stdout.strip()}")
        mid = f"d-{os.getpid()}@remote.example"
        out = swaks(smtp_port, "<>", sender, src="127.0.0.3",
                    extra=["--header", f"Message-Id: <{mid}>", "--header", "Subject: bounce to Exim's tag"])
        check((reply_to(out, "RCPT") or "").startswith("250") and (reply_to(out, ".") or "").startswith("250"),
              f"d: a bounce to Exim's tag passes backstop's check at RCPT ({reply_to(out, 'RCPT')})", logs)
        check(wait_for(lambda: mid in mbox("alice"), 20), "d: ...and reaches alice's mailbox", logs)
        batv_lines = bs.log_lines(r"batv")
        check(len(batv_lines) >= 2, f"d: backstop logged its BATV refusals ({len(batv_lines)} lines)", logs)

        # e
        out = swaks(smtp_port, "friend@remote.example", "user@example.org", src="127.0.0.3")
        check((reply_to(out, ".") or "").startswith("250"), "e: ordinary inbound mail passes", logs)

        # f
        bs.stop()
        out = swaks(smtp_port, "<>", tagged, src="127.0.0.3")
        r = reply_to(out, "RCPT") or ""
        check(r.startswith("451") and "4.3.0" in r, f"f: backstop down: a bounce is deferred at RCPT: {r}", logs)
    except Fail as e:
        check.failures.append(str(e))
        say(f"FAIL {e}")
    finally:
        ignore_signals()
        if exim and exim.poll() is None:
            exim.terminate()
            try:
                exim.wait(15)
            except subprocess.TimeoutExpired:
                exim.kill()
                exim.wait()
        # delivery processes Exim forked (its daemon's children) end on their own
        if exim:
            pidfile = os.path.join(tmp, "exim.pid")
            wait_for(lambda: not os.path.exists(pidfile) or not pid_alive(exim.pid), 5)
        if bs and bs.proc and bs.proc.poll() is None:
            bs.proc.kill()
            bs.proc.wait()
        if sink:
            sink.close()
        if not KEEP:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            say(f"kept {tmp}")
    print(f"{len(check.failures)} failure(s)")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
