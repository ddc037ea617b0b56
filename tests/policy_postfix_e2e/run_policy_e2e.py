#!/usr/bin/env python3
"""Real Postfix with `check_policy_service` pointing at backstop's policy
service (no milter): BATV at RCPT and the outbound limits, as
docs/milter.md ("Policy service") and docs/outbound.md ("Where the checks
run") describe them.

usage: run_policy_e2e.py BACKSTOP_BINARY

On loopback with free ports under a private temporary directory (kept when
BACKSTOP_E2E_KEEP=1). Postfix's smtpd_recipient_restrictions start with
check_policy_service; a recipient_canonical_maps regexp strips a valid tag,
as docs/install.md tells policy-only sites. batv.mode = enforce (no grace);
clients 127.0.0.4 and 127.0.0.5 are outbound (outbound.networks) and limited
per client to 2 messages and 5 recipients an hour.

  a  a bounce (null sender) to an untagged address of ours: 550 5.7.1 at RCPT;
  b  ...to a tag with a wrong hash: 550 5.7.1 at RCPT;
  c  ...to a tag `backstop batv sign` made with the daemon's key: accepted and
     delivered to the untagged address (Delivered-To);
  d  ordinary inbound mail passes (DUNNO);
  e  messages: from 127.0.0.4 a message with 3 recipients and one with 1
     pass (each message counted once, at its first RCPT, through Postfix's
     `instance`); the third message gets 451 4.7.1 at RCPT;
  f  recipients: from 127.0.0.5 one message to 7 recipients: RCPTs 1-5
     accepted, 6 and 7 get 451 4.7.1;
  g  backstop logged the policy refusals; SIGTERM: exit 0.
Exit status: 0 passed, 1 a check failed or a prerequisite is missing.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import (DAEMON_TOML, BackstopServe, Checks, Fail, Postfix, free_ports, ignore_signals,  # noqa: E402
                       missing_prerequisites, replies, reply_to, say, stop_on_signals, swaks, wait_for)

KEEP = os.environ.get("BACKSTOP_E2E_KEEP") == "1"


class Backstop(BackstopServe):
    def __init__(self, binary, tmp, policy_port, metrics_port):
        super().__init__(binary, tmp, policy_port, extra_ports=(metrics_port,))
        with open(self.config, "w") as f:
            f.write(DAEMON_TOML + f"""\
[milter]
listen = ""
[policy]
listen = "inet:127.0.0.1:{policy_port}"
[metrics]
listen = "127.0.0.1:{metrics_port}"
[state]
dir = "{self.state}"
[domains]
local = ["example.org"]
[outbound]
networks = ["127.0.0.4/32", "127.0.0.5/32"]
[batv]
mode = "enforce"
grace_days = 0
[ledger]
warmup_days = 0
[[limits.rule]]
name = "per-client"
scope = "client_ip"
messages = "2/1h"
recipients = "5/1h"
[log]
target = "{self.logfile}"
flush_ms = 0
""")


def rcpt_replies(out):
    return [r for c, r in replies(out) if c == "RCPT"]


def main():
    binary = os.path.abspath(sys.argv[1])
    why = missing_prerequisites("postfix", "swaks")
    if why:
        print(f"FAIL: {why}")
        return 1
    check = Checks()
    stop_on_signals()
    tmp = tempfile.mkdtemp(prefix="backstop-policy-e2e-")
    os.chmod(tmp, 0o755)
    bs = pf = None
    try:
        policy_port, metrics_port, smtp_port = free_ports(3)
        bs = Backstop(binary, tmp, policy_port, metrics_port)
        pf = Postfix(os.path.join(tmp, "postfix"), smtp_port, None, domains=("example.org",),
                     hostname="mx.example.org",
                     files={"batv_strip.regexp": "/^prvs=[0-9][0-9]{3}[0-9a-f]{6}=(.+@.+)$/  ${1}\n"},
                     extra=f"""\
smtpd_recipient_restrictions =
    check_policy_service {{ inet:127.0.0.1:{policy_port}, timeout=10s, default_action=DEFER_IF_PERMIT }},
    permit_mynetworks, reject_unauth_destination
recipient_canonical_maps = regexp:{tmp}/postfix/etc/batv_strip.regexp
""")
        pfcheck = pf.check_async()
        bs.start()
        pf.start(pfcheck)
        plog = [("backstop log", bs.logfile), ("maillog", pf.maillog)]

        # a, b: forged bounces refused at RCPT
        out = swaks(smtp_port, "<>", "user@example.org", src="127.0.0.3")
        check((reply_to(out, "RCPT") or "").startswith("550 5.7.1"),
              f"a: a bounce to an untagged address is refused at RCPT: {reply_to(out, 'RCPT')}", plog)
        out = swaks(smtp_port, "<>", "prvs=0123abcdef=user@example.org", src="127.0.0.3")
        check((reply_to(out, "RCPT") or "").startswith("550 5.7.1"),
              f"b: a bounce to a tag with a wrong hash is refused at RCPT: {reply_to(out, 'RCPT')}", plog)

        # c: a valid tag, signed with the daemon's key file
        keys = os.path.join(bs.state, "batv.keys")
        check(wait_for(lambda: os.path.exists(keys), 10), "c: serve created its BATV key file", plog)
        p = subprocess.run([binary, "batv", "sign", "--key-file", keys, "user@example.org"],
                           capture_output=True, text=True)
        tagged = p.stdout.strip()
        check(p.returncode == 0 and tagged.startswith("prvs=") and tagged.endswith("=user@example.org"),
              f"c: backstop batv sign: {tagged} {p.stderr.strip()}")
        out = swaks(smtp_port, "<>", tagged, src="127.0.0.3")
        check((reply_to(out, "RCPT") or "").startswith("250") and (reply_to(out, ".") or "").startswith("250"),
              f"c: a bounce to {tagged} is accepted ({reply_to(out, 'RCPT')}; {reply_to(out, '.')})", plog)
        sink = os.path.join(pf.root, "mail", "sink")

        def delivered_untagged():
            for path in glob.glob(os.path.join(sink, "new", "*")):
                text = open(path, errors="replace").read()
                if "Return-Path: <>" in text and "Delivered-To: user@example.org" in text:
                    return True
            return False
        check(wait_for(delivered_untagged, 30), "c: ...and delivered to user@example.org, tag stripped", plog)

        # d: ordinary inbound mail
        out = swaks(smtp_port, "friend@remote.example", "user@example.org", src="127.0.0.3")
        check((reply_to(out, ".") or "").startswith("250"), "d: ordinary inbound mail passes", plog)

        # e: messages, counted once each through `instance`
        frm = "alice@example.org"
        out = swaks(smtp_port, frm, "r1@remote.example,r2@remote.example,r3@remote.example", src="127.0.0.4")
        rr = rcpt_replies(out)
        check(len(rr) == 3 and all(r.startswith("250") for r in rr),
              f"e: outbound message 1 (3 recipients) passes: {rr}", plog)
        out = swaks(smtp_port, frm, "r4@remote.example", src="127.0.0.4")
        check((reply_to(out, "RCPT") or "").startswith("250"), "e: outbound message 2 passes", plog)
        out = swaks(smtp_port, frm, "r5@remote.example", src="127.0.0.4")
        check((reply_to(out, "RCPT") or "").startswith("451 4.7.1"),
              f"e: outbound message 3 gets 451 4.7.1 at RCPT (2 messages an hour): {reply_to(out, 'RCPT')}", plog)

        # f: recipients
        to = ",".join(f"x{i}@remote.example" for i in range(1, 8))
        out = swaks(smtp_port, "bob@example.org", to, src="127.0.0.5")
        rr = rcpt_replies(out)
        check(len(rr) == 7 and all(r.startswith("250") for r in rr[:5])
              and all(r.startswith("451 4.7.1") for r in rr[5:]),
              f"f: 7 recipients from one client: 5 accepted, then 451 4.7.1: {rr}", plog)
        check((reply_to(out, ".") or "").startswith("250"), "f: ...and the message goes to the 5", plog)

        # g
        lines = bs.log_lines(r"^.*policy client=")
        check(sum("batv" in l for l in lines) >= 2 and sum("127.0.0.4" in l for l in lines) >= 1,
              f"g: backstop logged the policy refusals ({len(lines)} policy lines)", plog)
        bs.stop()
        check(True, "g: SIGTERM: serve exits 0")
    except Fail as e:
        check.failures.append(str(e))
        say(f"FAIL {e}")
    finally:
        ignore_signals()
        if pf:
            pf.stop()
        if bs and bs.proc and bs.proc.poll() is None:
            bs.proc.kill()
            bs.proc.wait()
        if not KEEP:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            say(f"kept {tmp}")
    print(f"{len(check.failures)} failure(s)")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
