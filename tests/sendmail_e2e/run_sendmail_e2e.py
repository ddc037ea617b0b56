#!/usr/bin/env python3
"""Real Sendmail (Debian's sendmail-bin, unpacked, never installed) with
backstop as its milter, built from examples/sendmail/sendmail.mc.

usage: run_sendmail_e2e.py BACKSTOP_BINARY SOURCE_DIR

sendmail-bin conflicts with postfix, so the packages are unpacked into a
private directory (tests/lib/mta.py) and laid over /usr inside a private
mount namespace, where /etc/hosts also gives the host a qualified name.
sendmail.cf is made by m4 from examples/sendmail/sendmail.mc with only its
port numbers and the smart host changed (and the mail domains of the test resolve through
/etc/hosts: sendmail refuses a sender whose domain does not); the daemon runs as root in the foreground (-bD) with
the test's queue, pid and status files (-O options). A small SMTP sink is
the smart host (the mail store and the way out). Loopback only, free ports.

  a  a forged DSN (null sender, untagged recipient of ours) gets 550 5.7.1
     at RCPT (batv.mode = enforce);
  b  alice submits on the ORIGINATING port: the message leaves with a
     prvs= envelope sender, set by backstop through CHGFROM (smfi_chgfrom),
     that `backstop batv verify` finds valid, and its Message-ID is in the
     ledger;
  c  the real DSN of that message, to the tagged sender, is accepted and
     reaches the smart host addressed to alice@example.org (backstop removed
     the tag: DELRCPT + ADDRCPT);
  d  ordinary inbound mail passes;
  e  with backstop stopped, mail is deferred 4xx (F=T), not accepted.
Exit status: 0 passed, 1 a check failed or a prerequisite is missing.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from mta import SmtpSink, extract, namespace_script  # noqa: E402
from pfharness import (DAEMON_TOML, BackstopServe, Checks, Fail, dsn, free_ports, ignore_signals,  # noqa: E402
                       listening, missing_prerequisites, reply_to, say, stop_on_signals, swaks, wait_for)

KEEP = os.environ.get("BACKSTOP_E2E_KEEP") == "1"


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


def sendmail_mc(example, ports):
    """The example with its ports changed; each must be there exactly once."""
    text = open(example).read()
    for old, new in ports.items():
        if text.count(old) != 1:
            raise Fail(f"examples/sendmail/sendmail.mc: '{old}' found {text.count(old)} times")
        text = text.replace(old, new)
    return text


def main():
    binary, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    why = missing_prerequisites("swaks", "unshare", "dpkg-deb", "m4")
    if why:
        print(f"FAIL: {why}")
        return 1
    check = Checks()
    stop_on_signals()
    tmp = tempfile.mkdtemp(prefix="backstop-sendmail-e2e-")
    os.chmod(tmp, 0o755)
    bs = sm = sink = None
    try:
        root = os.path.join(tmp, "sendmail-root")
        why = extract(["sendmail-base", "sendmail-cf", "sendmail-bin"], root)
        if why:
            raise Fail(why)
        milter_port, mta_port, msa_port = free_ports(3)
        sink = SmtpSink("127.0.0.2")  # not 127.0.0.1: sendmail skips a smart host that is itself
        mc = os.path.join(tmp, "sendmail.mc")
        with open(mc, "w") as f:
            f.write(sendmail_mc(os.path.join(src, "examples", "sendmail", "sendmail.mc"), {
                "Port=25,": f"Port={mta_port},",
                "Port=587,": f"Port={msa_port},",
                "TCP $h 25'": f"TCP $h {sink.port}'",
                "[mailstore.example.org]": "[127.0.0.2]",
                "S=inet:8895@127.0.0.1": f"S=inet:{milter_port}@127.0.0.1",
            }))
        ns = namespace_script(os.path.join(tmp, "ns.sh"), tmp, usr=os.path.join(root, "usr"),
                              qualify_hostname=True, hosts=("example.org", "remote.example"))
        cf = os.path.join(tmp, "sendmail.cf")
        with open(cf, "w") as out:
            p = subprocess.run([*ns, "m4", mc], stdout=out, stderr=subprocess.PIPE, text=True, timeout=60)
        check(p.returncode == 0 and "Xbackstop, S=inet:" in open(cf).read(),
              f"m4 builds sendmail.cf with the backstop milter {p.stderr.strip()}")
        for d in ("mqueue", "hoststat"):
            os.makedirs(os.path.join(tmp, d), mode=0o700)
        # sendmail keeps every message queued while it has no alias database;
        # it trusts files under /tmp (world-writable, sticky) only if told to
        options = ["-ODontBlameSendmail=TrustStickyBit", f"-OQueueDirectory={tmp}/mqueue", f"-OHostStatusDirectory={tmp}/hoststat",
                   f"-OStatusFile={tmp}/sendmail.st", f"-OPidFile={tmp}/sendmail.pid",
                   f"-ODeadLetterDrop={tmp}/dead.letter", f"-OAliasFile={tmp}/aliases"]
        with open(os.path.join(tmp, "aliases"), "w") as f:
            f.write("postmaster: alice@example.org\n")
        p = subprocess.run([*ns, "/usr/libexec/sendmail/sendmail", "-C", cf, "-bi", *options],
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, f"newaliases (sendmail -bi): {p.stdout.strip()} {p.stderr.strip()}")

        bs = Backstop(binary, tmp, milter_port)
        bs.start()
        traffic = os.path.join(tmp, "smtp-traffic")
        logs = [("backstop log", bs.logfile), ("sendmail stderr", os.path.join(tmp, "sendmail.stderr"))]
        err = open(os.path.join(tmp, "sendmail.stderr"), "w")
        sm = subprocess.Popen(
            [*ns, "/usr/libexec/sendmail/sendmail", "-C", cf, "-bD", "-X", traffic, *options],
            stdout=err, stderr=err, stdin=subprocess.DEVNULL)
        err.close()
        up = wait_for(lambda: sm.poll() is not None or (listening(mta_port) and listening(msa_port)), 90)
        if not up or sm.poll() is not None:
            raise Fail(f"sendmail did not start (exit {sm.poll()}): " + open(logs[1][1]).read())
        say(f"sendmail {sm.pid}: MTA 127.0.0.1:{mta_port}, ORIGINATING {msa_port}; milter {milter_port}")

        # a: forged DSN
        forged = os.path.join(tmp, "forged.eml")
        with open(forged, "w", newline="") as f:
            f.write(dsn(f"never-sent-{os.getpid()}@example.org", rcpt="user@example.org"))
        out = swaks(mta_port, "<>", "user@example.org", src="127.0.0.3", data=forged)
        r = reply_to(out, "RCPT") or ""
        check(r.startswith("550") and "5.7.1" in r, f"a: a forged DSN gets 5xx at RCPT: {r}", logs)

        # b: outbound, signed through CHGFROM
        mid = f"out-{os.getpid()}@example.org"
        msg = os.path.join(tmp, "out.eml")
        with open(msg, "w") as f:
            f.write(f"From: alice@example.org\r\nTo: bob@remote.example\r\nSubject: hello bob\r\n"
                    f"Message-ID: <{mid}>\r\n\r\nHello.\r\n")
        out = swaks(msa_port, "alice@example.org", "bob@remote.example", src="127.0.0.4", data=msg)
        check((reply_to(out, ".") or "").startswith("250"), f"b: alice's message is accepted on the "
              f"ORIGINATING port: {reply_to(out, '.')}", logs)

        def relayed(pred):
            return wait_for(lambda: [m for m in list(sink.messages) if pred(m)], 30)
        got = relayed(lambda m: mid in m["data"])
        sender = got[0]["from"] if got else ""
        check(re.fullmatch(r"prvs=\d{4}[0-9a-f]{6}=alice@example\.org", sender) is not None,
              f"b: it leaves with a BATV-signed envelope sender (CHGFROM): {sender!r}", logs)
        keys = os.path.join(bs.state, "batv.keys")
        p = subprocess.run([binary, "batv", "verify", "--key-file", keys, sender], capture_output=True, text=True)
        check(p.returncode == 0 and p.stdout.startswith("valid"), f"b: backstop batv verify: {p.stdout.strip()}")
        p = subprocess.run([binary, "ledger", "--config", bs.config, "show", mid], capture_output=True, text=True)
        check(p.returncode == 0, f"b: its Message-ID is in the ledger: {p.stdout.strip()} {p.stderr.strip()}")

        # c: the real DSN to the tagged sender
        real = os.path.join(tmp, "real-dsn.eml")
        with open(real, "w", newline="") as f:
            f.write(dsn(mid, rcpt=sender, subject="hello bob").replace("alice@example.test", "alice@example.org"))
        out = swaks(mta_port, "<>", sender, src="127.0.0.3", data=real)
        check((reply_to(out, "RCPT") or "").startswith("250") and (reply_to(out, ".") or "").startswith("250"),
              f"c: the real DSN to {sender} is accepted ({reply_to(out, 'RCPT')}; {reply_to(out, '.')})", logs)
        got = relayed(lambda m: f"dsn.{mid}" in m["data"])
        check(got and got[0]["to"] == ["alice@example.org"] and got[0]["from"] == "",
              f"c: ...and goes on from <> to alice@example.org, tag removed: "
              f"{[(m['from'], m['to']) for m in got]}", logs)

        # d
        out = swaks(mta_port, "friend@remote.example", "user@example.org", src="127.0.0.3")
        check((reply_to(out, ".") or "").startswith("250"), "d: ordinary inbound mail passes", logs)

        # e
        bs.stop()
        out = swaks(mta_port, "friend@remote.example", "user@example.org", src="127.0.0.3")
        replies = [reply_to(out, v) or "" for v in ("MAIL", "RCPT", ".")]
        check(any(r.startswith("4") for r in replies) and not any(r.startswith("250 2.0.0") for r in replies),
              f"e: backstop down: sendmail defers (F=T): {replies}", logs)
    except Fail as e:
        check.failures.append(str(e))
        say(f"FAIL {e}")
    finally:
        ignore_signals()
        if sm and sm.poll() is None:
            sm.terminate()
            try:
                sm.wait(15)
            except subprocess.TimeoutExpired:
                sm.kill()
                sm.wait()
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
