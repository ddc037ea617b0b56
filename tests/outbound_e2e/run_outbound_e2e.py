#!/usr/bin/env python3
"""End-to-end test of outbound protection through real Postfix (issue 7).

usage: run_outbound_e2e.py BACKSTOP_BINARY

All on loopback with free high ports under a private temporary directory
(kept when BACKSTOP_E2E_KEEP=1). Postfix's smtpd has backstop as its milter;
every client in 127.0.0.0/8 is outbound (outbound.networks); mail to
example.org (ours) goes to one Maildir, mail elsewhere to the discard
transport. swaks binds to distinct 127/8 source addresses so the per-client
limits of one step do not touch another's.

Steps:
  1  limit: the 6th message in an hour from limited.example.org (5/1h) gets
     451 4.7.1, and the first trip sends one notice mail (through the
     limits.sendmail program, or by SMTP with --notify-smtp) to
     postmaster@example.org;
  2  many senders: a client switching among 50 forged envelope senders trips
     the distinct-sender detector (20/1h) at the 21st; a client with one
     sender and 400 recipients (smtp-source) does not;
  3  exemption: 12 messages from the exempt domain pass a general limit of
     8/1h that stops a non-exempt domain at its 9th;
  4  concurrency: 16 parallel SMTP sessions share 100 messages against a
     limit of 40/1h: exactly 40 are accepted, 60 get 451 4.7.1;
  5  autoreply gate: after alice wrote to bob, her out-of-office reply to bob
     passes once, a second within the period is refused (550 5.7.1), one to
     a stranger is refused, and a challenge/response challenge is refused.
Exit status: 0 passed, 1 a check failed or a prerequisite is missing.
"""
import os
import pwd
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import (DAEMON_TOML, RUN_AS, BackstopServe, Fail, Postfix, free_ports, listening, reply_to, say, swaks,  # noqa: E402
                       tail, wait_for)

KEEP = os.environ.get("BACKSTOP_E2E_KEEP") == "1"


class Backstop(BackstopServe):
    def __init__(self, binary, tmp, milter_port, sendmail):
        super().__init__(binary, tmp, milter_port)
        with open(self.config, "w") as f:
            f.write(DAEMON_TOML + f"""\
[milter]
listen = "inet:127.0.0.1:{milter_port}"
threads = 4
[policy]
listen = ""
[metrics]
listen = ""
[state]
dir = "{self.state}"
[domains]
local = ["example.org"]
[outbound]
networks = ["127.0.0.0/8"]
[ledger]
warmup_days = 0
[limits]
exempt = ["@exempt.example.org"]
notify = "postmaster@example.org"
sendmail = "{sendmail}"
[[limits.rule]]
name = "per-domain"
scope = "sender_domain"
match = "limited.example.org"
messages = "5/1h"
[[limits.rule]]
name = "burst"
scope = "sender_domain"
match = "burst.example.org"
messages = "40/1h"
[[limits.rule]]
name = "domains"
scope = "sender_domain"
messages = "8/1h"
[[limits.rule]]
name = "spread"
scope = "client_ip"
senders = "20/1h"
[log]
target = "{self.logfile}"
level = "debug"
# the checks read the log as soon as a transaction ends (and some look for absent lines)
flush_ms = 0
""")


def expect(cond, what):
    if not cond:
        raise Fail(what)
    say(f"ok: {what}")


def parallel_send(port, sender, sessions, total):
    """`sessions` SMTP connections share `total` messages; returns (accepted,
    refused with 451 4.7.1 at MAIL, [other replies])."""
    lock = threading.Lock()
    state = {"left": total, "accepted": 0, "refused": 0, "other": []}

    def take():
        with lock:
            if state["left"] == 0:
                return False
            state["left"] -= 1
            return True

    def worker():
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=60)
            s.ehlo("client.test")
            while take():
                code, msg = s.mail(sender)
                if code == 451 and msg.startswith(b"4.7.1"):
                    with lock:
                        state["refused"] += 1
                    s.rset()
                    continue
                if code != 250:
                    with lock:
                        state["other"].append(f"MAIL {code} {msg!r}")
                    s.rset()
                    continue
                s.rcpt("x@remote.example")
                code, msg = s.data(b"Subject: burst\r\n\r\nhello\r\n")
                with lock:
                    if code == 250:
                        state["accepted"] += 1
                    else:
                        state["other"].append(f"DATA {code} {msg!r}")
            s.quit()
        except (OSError, smtplib.SMTPException) as e:
            with lock:
                state["other"].append(f"session: {e}")

    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return state["accepted"], state["refused"], state["other"]


def write_message(path, text):
    with open(path, "w") as f:
        f.write(text.replace("\n", "\r\n"))
    return path


def main():
    # --notify-smtp: notices are submitted by SMTP to the instance
    # (limits.sendmail = "smtp:127.0.0.1:PORT"), as under the shipped
    # systemd unit, instead of through its sendmail program.
    notify_smtp = "--notify-smtp" in sys.argv[2:]
    sys.argv = [a for a in sys.argv if a != "--notify-smtp"]
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        print("FAIL: needs root (private Postfix instance)")
        return 1
    for tool in ("postfix", "swaks", "smtp-source"):
        if not shutil.which(tool):
            print(f"FAIL: {tool} not installed")
            return 1

    tmp = tempfile.mkdtemp(prefix="backstop-outbound-e2e.")
    os.chmod(tmp, 0o755)
    smtp_port, milter_port = free_ports(2)
    say(f"work dir {tmp}; smtp {smtp_port}, milter {milter_port}")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)

    pf = bs = None
    ok = False
    check = None
    try:
        pf = Postfix(os.path.join(tmp, "pf"), smtp_port, milter_port, domains=("example.org",),
                     extra="smtpd_client_message_rate_limit = 0\n")
        # limits.sendmail: a program backstop runs, as the user it dropped to
        # (RUN_AS). Postfix's own sendmail would refuse this private
        # instance's configuration directory to a user other than root (it
        # must be listed in alternate_config_directories of the system's
        # main.cf, which the test does not touch), so this one records who
        # ran it with which arguments and hands the message to the instance
        # by SMTP, as sendmail's pickup would.
        wrapper = os.path.join(tmp, "sendmail")
        calls = os.path.join(tmp, "sendmail.calls")
        open(calls, "w").close()
        os.chmod(calls, 0o666)
        with open(wrapper, "w") as f:
            f.write(f"""#!/usr/bin/env python3
import os, smtplib, sys
args = sys.argv[1:]
with open({calls!r}, "a") as log:
    log.write(f"{{os.getuid()}} {{' '.join(args)}}\\n")
sender = args[args.index("-f") + 1] if "-f" in args else ""
rcpts = args[args.index("--") + 1:]
with smtplib.SMTP("127.0.0.1", {smtp_port}) as s:
    s.sendmail("" if sender == "<>" else sender, rcpts, sys.stdin.buffer.read())
""")
        os.chmod(wrapper, 0o755)
        bs = Backstop(binary, tmp, milter_port, f"smtp:127.0.0.1:{smtp_port}" if notify_smtp else wrapper)
        say("notices by " + ("SMTP" if notify_smtp else "the sendmail program"))
        check = pf.check_async()
        bs.start()
        pf.start(check)
        check = None
        if not wait_for(lambda: listening(smtp_port), 30):
            raise Fail("postfix smtpd did not start")
        say("postfix and backstop are up")
        maildir = os.path.join(pf.root, "mail", "sink")

        # 1  the N+1st message in a window gets 451 4.7.1, and a notice goes out
        replies = [reply_to(swaks(smtp_port, "ann@limited.example.org", "x@remote.example", "127.0.0.11"), "MAIL")
                   for _ in range(6)]
        expect(all(r and r.startswith("250") for r in replies[:5]), f"5 messages pass a 5/1h limit: {replies[:5]}")
        expect(replies[5] and replies[5].startswith("451 4.7.1") and "limit 5/1h" in replies[5],
               f"the 6th gets 451 4.7.1: {replies[5]}")

        def notices():
            found = []
            for sub in ("new", "cur"):
                d = os.path.join(maildir, sub)
                if os.path.isdir(d):
                    for n in os.listdir(d):
                        with open(os.path.join(d, n), errors="replace") as f:
                            text = f.read()
                        if "backstop: limit per-domain tripped" in text:
                            found.append(text)
            return found
        expect(wait_for(lambda: len(notices()) >= 1, 30), "a notice mail reached postmaster@example.org")
        if not notify_smtp:
            with open(calls) as f:
                ran = f.read().splitlines()
            expect(ran == [f"{pwd.getpwnam(RUN_AS).pw_uid} -i -f <> -- postmaster@example.org"],
                   f"limits.sendmail ran once, as {RUN_AS}, with -i -f <> -- postmaster@example.org: {ran}")
        reply_to(swaks(smtp_port, "ann@limited.example.org", "x@remote.example", "127.0.0.11"), "MAIL")
        time.sleep(2)
        expect(len(notices()) == 1, "only one notice per limit, client and window")

        # 2  many forged envelope senders from one client trip the detector
        first_refused, refused = None, 0
        for i in range(50):
            r = reply_to(swaks(smtp_port, f"user{i}@forged{i}.example", "x@remote.example", "127.0.0.12"), "MAIL")
            if r and r.startswith("451 4.7.1"):
                refused += 1
                if first_refused is None:
                    first_refused = i
                    expect("different envelope senders" in r, f"the reply names the detector: {r}")
            elif not (r and r.startswith("250")):
                raise Fail(f"unexpected reply for sender {i}: {r}")
        expect(first_refused == 20 and refused == 30,
               f"50 forged senders: the 21st distinct sender is the first refused (first {first_refused}, {refused} refused)")
        # one sender, many recipients: smtp-source binds no source address, it uses 127.0.0.1
        p = subprocess.run(["smtp-source", "-c", "-s", "1", "-m", "8", "-r", "50", "-f", "one@single.example.net",
                            "-t", "rcpt@remote.example", f"127.0.0.1:{smtp_port}"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        expect(p.returncode == 0 and "error" not in p.stdout.lower(),
               f"one sender with 400 recipients passes (smtp-source rc {p.returncode})")
        expect(not bs.log_lines(r"limit=spread .*identity=127\.0\.0\.1 "), "and does not trip the detector")

        # 3  exemptions
        ex = [reply_to(swaks(smtp_port, "news@exempt.example.org", "x@remote.example", "127.0.0.13"), "MAIL")
              for _ in range(12)]
        expect(all(r and r.startswith("250") for r in ex), "12 messages from an exempt domain pass a general 8/1h")
        other = [reply_to(swaks(smtp_port, "a@other.example.org", "x@remote.example", "127.0.0.14"), "MAIL")
                 for _ in range(9)]
        expect(all(r.startswith("250") for r in other[:8]) and other[8].startswith("451 4.7.1"),
               f"while a non-exempt domain is stopped at its 9th: {other[8]}")

        # 4  16 parallel connections against one limit let exactly N through
        #    (smtp-source stops at the first error, so 16 smtplib sessions
        #    share 100 messages, each going on after a refusal)
        accepted, refused, other = parallel_send(smtp_port, "b@burst.example.org", 16, 100)
        time.sleep(1)
        reached = bs.log_lines(r"from=<b@burst\.example\.org> .*role=outbound message_id=")
        expect(accepted == 40 and refused == 60 and not other,
               f"16 parallel sessions, 100 messages, limit 40/1h: {accepted} accepted, {refused} got 451 4.7.1, "
               f"other replies {other[:3]}")
        expect(len(reached) == 40, f"and backstop saw exactly 40 reach end of data ({len(reached)})")

        # 5  the autoreply gate
        mdir = os.path.join(tmp, "msgs")
        os.makedirs(mdir)
        first = write_message(os.path.join(mdir, "first.eml"),
                              "From: Alice <alice@example.org>\nTo: bob@remote.example\nSubject: lunch?\n"
                              "Message-ID: <lunch1@example.org>\n\nShall we have lunch on Friday?\n")

        def oof(to, n):
            return write_message(os.path.join(mdir, f"oof{n}.eml"),
                                 f"From: Alice <alice@example.org>\nTo: {to}\nSubject: Out of Office: your message\n"
                                 f"Auto-Submitted: auto-replied\nMessage-ID: <oof{n}@example.org>\n\n"
                                 "I am out of the office until Monday with limited access to email.\n"
                                 "I will reply to your message when I return.\n")
        r = reply_to(swaks(smtp_port, "alice@example.org", "bob@remote.example", "127.0.0.15", data=first), ".")
        expect(r and r.startswith("250"), f"alice writes to bob: {r}")
        time.sleep(1)  # the ledger's batch writer commits
        r = reply_to(swaks(smtp_port, "<>", "bob@remote.example", "127.0.0.15", data=oof("bob@remote.example", 1)), ".")
        expect(r and r.startswith("250"), f"her out-of-office reply to bob, a correspondent, passes: {r}")
        r = reply_to(swaks(smtp_port, "<>", "bob@remote.example", "127.0.0.15", data=oof("bob@remote.example", 2)), ".")
        expect(r and r.startswith("550 5.7.1") and "already got one" in r, f"a second one within the period is refused: {r}")
        r = reply_to(swaks(smtp_port, "<>", "carol@remote.example", "127.0.0.15",
                           data=oof("carol@remote.example", 3)), ".")
        expect(r and r.startswith("550 5.7.1") and "not a known correspondent" in r,
               f"one to a stranger is refused: {r}")
        cr = write_message(os.path.join(mdir, "challenge.eml"),
                           "From: Alice <alice@example.org>\nTo: bob@remote.example\n"
                           "Subject: Please confirm your message\nAuto-Submitted: auto-replied\n"
                           "Message-ID: <cr1@example.org>\n\n"
                           "I protect myself from spam with a challenge/response system. Your message is held.\n"
                           "To have your message delivered, please verify that you are a human by clicking "
                           "the link below:\nhttp://verify.example.org/confirm?id=123\n")
        r = reply_to(swaks(smtp_port, "<>", "bob@remote.example", "127.0.0.15", data=cr), ".")
        expect(r and r.startswith("550 5.7.1") and "challenge/response" in r, f"a C/R challenge is refused: {r}")
        ok = True
    except Fail as e:
        print(f"FAIL: {e}")
    finally:
        if check is not None and check.poll() is None:
            check.kill()
        for part in (pf, bs):
            try:
                if part:
                    part.stop()
            except Fail as e:
                print(f"FAIL: {e}")
                ok = False
        if not ok:
            for label, path in (("maillog", pf.maillog if pf else ""), ("backstop log", bs.logfile if bs else ""),
                                ("backstop stderr", bs.stderr if bs else "")):
                if path:
                    print(f"    --- {label}, last lines:")
                    for line in tail(path):
                        print(f"    | {line}")
        if KEEP or not ok:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    say("PASS" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
