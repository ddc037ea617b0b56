#!/usr/bin/env python3
"""Correlation with real Postfix DSNs (issue 17, part 2): the correlation keys
for bounces that return no original, and the relay rule against a forged hop.

usage: run_test.py BACKSTOP_BINARY

Everything runs on loopback with random free ports under a private temporary
directory (kept when BACKSTOP_E2E_KEEP=1):

  A  Postfix for example.test (myhostname mx.example.test): inbound smtpd with
     backstop as milter, a submission smtpd (milter_macro_daemon_name =
     ORIGINATING); relays remote.test to B from 127.0.0.2.
  B  Postfix for remote.test: accepts any recipient and cannot deliver
     (error:5.1.1), so its bounce(8) sends real DSNs back to A. First with
     header_checks that IGNORE Message-Id (and no Message-Id of its own,
     local_header_rewrite_clients empty): its DSNs return the original's
     headers without the Message-ID. (bounce_size_limit does not do it:
     Postfix 3.7 returns the headers whole however small the limit.)
     alias@remote.test is a virtual alias of gone@remote.test.
  backstop serve: relays.ours = ["mx.example.test"] (a name only: B's receipt
     line names our relay by HELO alone, which proves nothing), no warm-up,
     LMDB state seeded with one ledger entry 20 days old (the ledger covers
     the recipient window).

Checks, on backstop's decision log line (verdict and evidence) and on what
became of each DSN (delivered, tagged, or refused with 550 by A):
  1  a message sent through A, bounced by B without its Message-ID: ours by
     recipient and time (evidence=recipient:ours), delivered untagged;
  2  a spam from 127.0.0.3 (HELO mx.example.test) forging our user as sender,
     bounced the same way, for a recipient we never wrote to: unknown
     (evidence=recipient:unknown: weak evidence against), tagged, delivered;
  4  a message with ENVID=... and ORCPT naming another address, to an alias:
     the DSN's recipients match nothing, its Original-Envelope-Id does:
     ours (evidence=envid:ours);
  3  B reloaded without the header_checks: a spam with a forged
     "Received: ... by mx.example.test (Postfix) with ESMTPSA id ..." line and
     a Message-ID we never sent: its bounce is not ours (the relay hop is
     shown as unknown, the ledger miss decides) and A refuses it with 550.
Exit status: 0 all passed, 1 a check failed or it cannot run.
"""
import os
import re
import secrets
import shutil
import smtplib
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import (DAEMON_TOML, BackstopServe, Checks, Fail, Postfix, free_ports, http_get,  # noqa: E402
                       ignore_signals, listening, missing_prerequisites, run, say, stop_on_signals, swaks, tail, wait_for)

KEEP = os.environ.get("BACKSTOP_E2E_KEEP") == "1"
DAY = 86400


def queue_settings(root):
    return f"""\
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 0
smtp_connect_timeout = 5s
transport_maps = texthash:{root}/etc/transport
"""


class Serve(BackstopServe):
    def __init__(self, binary, tmp, milter_port, metrics_port):
        super().__init__(binary, tmp, milter_port, extra_ports=(metrics_port,))
        with open(self.config, "w") as f:
            f.write(DAEMON_TOML + f"""\
[milter]
listen = "inet:127.0.0.1:{milter_port}"
threads = 2
[policy]
listen = ""
[metrics]
listen = "127.0.0.1:{metrics_port}"
[state]
dir = "{self.state}"
[domains]
local = ["example.test"]
[relays]
ours = ["mx.example.test"]
[batv]
mode = "off"
sign = false
[ledger]
warmup_days = 0
[log]
target = "{self.logfile}"
flush_ms = 0
""")

    def decision(self, pattern):
        """The inbound decision lines matching pattern."""
        return [line for line in self.log_lines(r"role=inbound") if re.search(pattern, line)]


def maildir_texts(root, user):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(root, "mail", user, sub)
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), errors="replace") as f:
                    out.append(f.read())
    return out


def submit(port, frm, to, mid, subject, mail_options=(), rcpt_options=()):
    """One message over SMTP with ESMTP parameters (swaks has no ENVID)."""
    msg = (f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-Id: <{mid}>\r\n"
           f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n\r\nhello\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("desk.example.test")
        s.sendmail(frm, [to], msg, mail_options=list(mail_options), rcpt_options=list(rcpt_options))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = os.path.abspath(sys.argv[1])
    why = missing_prerequisites("postfix", "postqueue", "postconf", "swaks")
    if why:
        print(f"FAIL: {why}")
        return 1
    stop_on_signals()
    tmp = tempfile.mkdtemp(prefix="backstop-corr.")
    os.chmod(tmp, 0o755)
    say(f"work dir {tmp}")
    a_in, a_sub, b_in, milter_port, metrics_port = free_ports(5)
    check = Checks()
    A = B = bs = None
    try:
        a_root, b_root = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        A = Postfix(
            a_root, a_in, milter_port, domains=("example.test",), hostname="mx.example.test",
            mailbox_maps=f"texthash:{a_root}/etc/vmailbox",
            listeners=[f"127.0.0.1:{a_sub} inet n - n - - smtpd -o syslog_name=postfix/submission"
                       " -o milter_macro_daemon_name=ORIGINATING"],
            extra=queue_settings(a_root) + "local_header_rewrite_clients =\nsmtp_bind_address = 127.0.0.2\n",
            files={"transport": f"remote.test smtp:[127.0.0.1]:{b_in}\n",
                   "vmailbox": "user@example.test user/\n"})
        B = Postfix(
            b_root, b_in, None, domains=(), hostname="mx.remote.test",
            extra=queue_settings(b_root)
            + "relay_domains = remote.test\nsmtpd_reject_unlisted_recipient = no\n"
            + f"virtual_alias_maps = texthash:{b_root}/etc/valias\n"
            + f"header_checks = regexp:{b_root}/etc/strip\nlocal_header_rewrite_clients =\n",
            files={"transport": "remote.test error:5.1.1 mailbox unavailable\n"
                                f"example.test smtp:[127.0.0.1]:{a_in}\n",
                   "valias": "alias@remote.test gone@remote.test\n",
                   "strip": "/^Message-Id:/ IGNORE\n"})
        pf_checks = [pf.check_async() for pf in (A, B)]
        bs = Serve(binary, tmp, milter_port, metrics_port)
        blog, alog, bmlog = ("backstop log", bs.logfile), ("A maillog", A.maillog), ("B maillog", B.maillog)
        # The ledger has recorded outbound mail for 20 days: it covers the window.
        seed = run([binary, "ledger", "--config", bs.config, "add", "seed@example.test",
                    "--from", "user@example.test", "--to", "seed@remote.test",
                    "--time", str(int(time.time()) - 20 * DAY)], check_rc=False)
        if not check(seed.returncode == 0, "the ledger is seeded", [("stderr", bs.stderr)]):
            print(seed.stdout, seed.stderr)
            return 1
        bs.start(timeout=60)
        A.start(pf_checks[0])
        B.start(pf_checks[1])
        if not check(wait_for(lambda: all(listening(p) for p in (a_in, a_sub, b_in)), 30),
                     "both Postfix instances listen", [alog, bmlog]):
            return 1

        def flush_until(pred, timeout=60):
            def step():
                A.flush()
                B.flush()
                return pred()
            return wait_for(step, timeout, 0.5)

        # ---- 1. our message, its DSN without the original: ours by recipient and time
        mid1 = f"corr-out-{secrets.token_hex(5)}@example.test"
        submit(a_sub, "user@example.test", "nobody@remote.test", mid1, "stripped one")
        line1 = flush_until(lambda: bs.decision(r"to=.*user@example\.test.*kind=bounce.*evidence=recipient"))
        check(line1 and "verdict=ours" in line1[0] and "evidence=recipient:ours" in line1[0]
              and "action=accept" in line1[0],
              "1: the DSN of our message, returned without its Message-ID, is ours by recipient and time",
              [blog, alog, bmlog])
        check(line1 and "evidence=ledger" not in line1[0],
              "1: it quoted no Message-ID (the ledger rule had nothing to look up)", [blog])
        check(line1 and "evidence=relay:unknown" in line1[0],
              "1: our relay's line sits below B's receipt from an address not in relays.ours: shown, not counted",
              [blog])
        got = wait_for(lambda: [t for t in maildir_texts(a_root, "user") if "nobody@remote.test" in t], 20)
        check(got and "X-Backscatter" not in got[0].split("\n\n", 1)[0],
              "1: the DSN is delivered to user@example.test, untagged", [alog])
        if got:
            dsn_file = os.path.join(tmp, "dsn1.eml")
            with open(dsn_file, "w") as f:
                f.write(got[0])
            check("Message-Id: <" + mid1 not in got[0] and "Message-ID: <" + mid1 not in got[0]
                  and "by mx.example.test (Postfix)" in got[0],
                  "1: the returned original holds no Message-ID (really stripped), our relay's line stays", [])
            out = run([binary, "check", "--config", bs.config, dsn_file], check_rc=False)
            check(re.search(r"evidence: \[recipient -> ours\] message-id <" + re.escape(mid1), out.stdout),
                  "1: backstop check shows the recipient evidence naming our Message-ID", [])
            if not re.search(r"recipient -> ours", out.stdout):
                print(out.stdout, out.stderr)

        # ---- 2. a recipient we never wrote to: unknown (weak evidence against), tagged
        spam2 = os.path.join(tmp, "spam2.eml")
        mid2 = f"spam-{secrets.token_hex(5)}@example.test"
        with open(spam2, "w") as f:
            f.write(f"From: user@example.test\r\nTo: ghost@remote.test\r\nSubject: cheap\r\n"
                    f"Message-Id: <{mid2}>\r\n\r\nbuy\r\n")
        out2 = swaks(b_in, "user@example.test", "ghost@remote.test", src="127.0.0.3", data=spam2,
                     extra=("--helo", "mx.example.test"))
        check(" 250 " in out2 or "<- 250" in out2, "2: B accepts the spam forging our user", [bmlog])
        line2 = flush_until(lambda: bs.decision(r"kind=bounce.*evidence=recipient:unknown"))
        check(line2 and "verdict=unknown" in line2[0] and "action=tag" in line2[0],
              "2: the DSN for a recipient we never wrote to is not ours: unknown, tagged", [blog, bmlog])
        got2 = wait_for(lambda: [t for t in maildir_texts(a_root, "user") if "ghost@remote.test" in t], 20)
        check(got2 and "verdict=unknown" in got2[0], "2: delivered with X-Backscatter: ... verdict=unknown", [alog])

        # ---- 4. ENVID only: the DSN's recipients name nothing we recorded
        mid4 = f"corr-envid-{secrets.token_hex(5)}@example.test"
        envid = f"QQ+2B{secrets.token_hex(4)}"  # xtext of "QQ+..."
        submit(a_sub, "user@example.test", "alias@remote.test", mid4, "envid one",
               mail_options=(f"ENVID={envid}", "RET=HDRS"),
               rcpt_options=("NOTIFY=FAILURE", "ORCPT=rfc822;someone-else@elsewhere.test"))
        show = wait_for(lambda: (lambda r: r.returncode == 0 and r)(
            run([binary, "ledger", "--config", bs.config, "show", mid4], check_rc=False)), 20)
        check(show and f"envid=QQ+{envid[5:]}" in show.stdout, "4: the ledger records the decoded ENVID", [blog])
        line4 = flush_until(lambda: bs.decision(r"kind=bounce.*evidence=envid"))
        check(line4 and "verdict=ours" in line4[0] and "evidence=envid:ours" in line4[0]
              and "evidence=recipient:ours" not in line4[0] and "evidence=ledger" not in line4[0],
              "4: the DSN is ours by its Original-Envelope-Id alone", [blog, bmlog])

        # ---- 3. a forged hop of ours in a spam: its bounce is not ours, refused 550
        run(["postconf", "-c", B.etc, "-e", "header_checks ="])
        run(["postfix", "-c", B.etc, "reload"])
        time.sleep(1)
        spam3 = os.path.join(tmp, "spam3.eml")
        mid3 = f"forged-{secrets.token_hex(5)}@example.test"
        with open(spam3, "w") as f:
            f.write("Received: from desk.example.test (desk.example.test [192.0.2.7])\r\n"
                    "\tby mx.example.test (Postfix) with ESMTPSA id 4QxYz1Abc2\r\n"
                    "\tfor <ghost3@remote.test>; Sun, 6 Dec 2026 10:00:00 +0000 (UTC)\r\n"
                    f"From: user@example.test\r\nTo: ghost3@remote.test\r\nSubject: replica\r\n"
                    f"Message-Id: <{mid3}>\r\n\r\nbuy\r\n")
        out3 = swaks(b_in, "user@example.test", "ghost3@remote.test", src="127.0.0.3", data=spam3,
                     extra=("--helo", "bot.example.net"))
        check(" 250 " in out3 or "<- 250" in out3, "3: B accepts the spam with a forged hop", [bmlog])
        line3 = flush_until(lambda: bs.decision(r"kind=bounce.*evidence=ledger:not_ours"))
        check(line3 and "verdict=not_ours" in line3[0] and "action=reject" in line3[0]
              and "evidence=relay:unknown" in line3[0] and "evidence=relay:ours" not in line3[0],
              "3: the bounce of a spam with a forged hop of ours is not ours (ledger miss outweighs the hop)",
              [blog, bmlog])
        refused = flush_until(lambda: re.search(r"to=<user@example\.test>.*said: 550 5\.7\.1",
                                                "\n".join(tail(B.maillog, 400))), 30)
        check(refused, "3: A refused B's bounce with 550 5.7.1 (B maillog)", [bmlog])
        status, metrics = http_get(metrics_port, "/metrics")
        check(status == 200
              and re.search(r'backstop_correlation_evidence_total\{points_to="ours",source="envid"\} [1-9]', metrics)
              and re.search(r'backstop_correlation_evidence_total\{points_to="ours",source="recipient"\} [1-9]',
                            metrics)
              and re.search(r'backstop_correlation_evidence_total\{points_to="unknown",source="relay"\} [1-9]',
                            metrics),
              "/metrics counts the envid, recipient and relay evidence", [])
    except Fail as e:
        check(False, str(e), [])
    finally:
        ignore_signals()
        for x in (bs, A, B):
            try:
                if x:
                    x.stop()
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                check(False, f"stop: {e}", [])
        if not KEEP and not check.failures:
            shutil.rmtree(tmp, ignore_errors=True)
        elif check.failures:
            say(f"kept {tmp}")
    print("PASS" if not check.failures else f"FAIL: {len(check.failures)} check(s)")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
