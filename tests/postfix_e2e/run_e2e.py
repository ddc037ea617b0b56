#!/usr/bin/env python3
"""End-to-end test: `backstop serve` as the milter of real Postfix (issue 5).

usage: run_e2e.py BACKSTOP_BINARY SHARED_DIR

Everything runs on 127.0.0.1 with random free ports, under a private temporary
directory (kept when BACKSTOP_E2E_KEEP=1):

  A  Postfix for example.test: inbound smtpd (milter = backstop), a second
     "submission" smtpd with milter_macro_daemon_name=ORIGINATING, delivers
     *@example.test to Maildirs A/mail/<localpart>/, relays remote.test to B.
  B  Postfix for remote.test: accepts mail for remote.test and cannot deliver it
     (error:5.1.1), so its bounce daemon sends a real DSN back to A.
  backstop serve --config T/backstop.toml (milter + /metrics, LMDB state in T).

Checks (each prints the relevant maillog / backstop log lines when it fails):
  c  a message submitted on the ORIGINATING port is relayed to B with a prvs=
     envelope sender, its Message-ID is in the ledger, B's DSN comes back to the
     tagged address and is delivered to the untagged user; outbound mail without
     a Message-ID gets one (recorded in the ledger) and a prvs= Return-Path.
  b  batv.mode = tag: a forged DSN, a virus notice, a C/R challenge and an
     autoreply (real messages from the shared corpora, chosen by LABELS.tsv)
     answering unknown Message-IDs are refused 550 5.7.1 at end of DATA.
  e  SIGHUP with batv.mode = enforce changes behaviour on a connection held
     open across the reload.
  a  enforce: a null-sender message to an untagged (or badly tagged) address is
     refused 550 5.7.1 at RCPT.
  f  /metrics counts the rejects in backstop_messages_total; /healthz answers.
  d  kill -9 backstop in the middle of a transaction: Postfix answers 4xx
     (milter_default_action = tempfail) and keeps nothing; after a restart the
     retried message is accepted and delivered exactly once.
  e  SIGTERM: backstop exits 0.
Exit status: 0 all passed, 1 a check failed, 1 also when it cannot run (not root, no postfix
or swaks).
"""
import os
import pwd
import re
import secrets
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import (DAEMON_TOML, BackstopServe, Fail, Postfix, free_ports, listening, replies,  # noqa: E402
                       reply_to, run, say, swaks, tail, wait_for)

FAILURES = []
KEEP = os.environ.get("BACKSTOP_E2E_KEEP") == "1"


def check(cond, what, logs=(), extra=""):
    """Records a failed assertion and prints context; returns cond."""
    if cond:
        say(f"ok   {what}")
        return True
    FAILURES.append(what)
    say(f"FAIL {what}")
    if extra:
        for line in str(extra).rstrip().splitlines():
            print(f"    | {line}")
    for label, path in logs:
        print(f"    --- {label} ({os.path.basename(path)}), last lines:")
        for line in tail(path):
            print(f"    | {line}")
    sys.stdout.flush()
    return False


def send(port, frm, to, *extra, data=None):
    """swaks from the kernel's source address with --timeout 60; extra: swaks arguments."""
    return swaks(port, frm, to, data=data, extra=extra, timeout=60)


def text_of(path):
    """The whole file, "" while it does not exist."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# ---------------------------------------------------------------- Postfix --

class Instance(Postfix):
    """A Postfix instance whose maillog the test reads."""

    def log(self):
        return text_of(self.maillog)


def maildir_files(pf, user):
    d = os.path.join(pf.root, "mail", user, "new")
    try:
        return sorted(os.path.join(d, n) for n in os.listdir(d))
    except OSError:
        return []


def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def headers_of(text):
    head = re.split(r"\r?\n\r?\n", text, 1)[0]
    return re.sub(r"\r?\n[ \t]+", " ", head).splitlines()


def header_values(text, name):
    out = []
    for line in headers_of(text):
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            out.append(v.strip())
    return out


# ---------------------------------------------------------------- backstop --

class Backstop(BackstopServe):
    """backstop serve with /metrics, its configuration rewritten for SIGHUP by write_config()."""

    def __init__(self, binary, tmp, milter_port, metrics_port):
        super().__init__(binary, tmp, milter_port, extra_ports=(metrics_port,))
        self.metrics_port = metrics_port

    def write_config(self, mode, listen=None, flush_ms=0):
        # Written to a temp file and renamed so a reload never sees half a file.
        # flush_ms=0: each decision line is in the log when the transaction
        # ends (the checks count lines); None leaves the buffered default.
        listen = listen or f"inet:127.0.0.1:{self.milter_port}"
        flush = "" if flush_ms is None else f"flush_ms = {flush_ms}\n"
        text = DAEMON_TOML + f"""\
[milter]
listen = "{listen}"
socket_mode = "0666"
threads = 2
[policy]
listen = ""
[metrics]
listen = "127.0.0.1:{self.metrics_port}"
[state]
dir = "{self.state}"
[domains]
local = ["example.test"]
[batv]
mode = "{mode}"
grace_days = 0
[ledger]
warmup_days = 0
[log]
target = "{self.logfile}"
level = "debug"
{flush}"""
        with open(self.config + ".new", "w") as f:
            f.write(text)
        os.replace(self.config + ".new", self.config)

    def start(self):
        """True once the milter and /metrics ports listen (within 30 s)."""
        try:
            super().start(timeout=30)
        except Fail as e:
            say(str(e))
            return False
        return True

    def log(self):
        return text_of(self.logfile)

    def ledger_show(self, mid):
        return run([self.binary, "ledger", "--state", self.state, "show", mid], check_rc=False)

    def metrics(self, path="/metrics"):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=5) as r:
            return r.status, r.read().decode("utf-8", "replace")


# ------------------------------------------------------------------ corpora --

def corpus_file(shared, set_name, relpath):
    path = os.path.join(shared, "corpora", set_name, relpath)
    labels = os.path.join(shared, "corpora", set_name, "LABELS.tsv")
    label = None
    try:
        with open(labels) as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if cols and cols[0] == relpath:
                    label = cols[1]
    except OSError:
        pass
    return path, label


# Real messages (read at run time, never copied into the project), by kind.
# (what, LABELS.tsv label, set, file, kinds backstop may log for it)
BACKSCATTER = [
    ("forged DSN", "dsn_bounce", "sisimai-set-of-emails", "bsd/lhost-postfix-04.eml", ("bounce",)),
    # a DSN-shaped virus rejection: the corpus scorer accepts bounce or virus_notice
    ("virus notice", "virus_notice", "sisimai-set-of-emails", "bsd/lhost-postfix-62.eml",
     ("virus_notice", "bounce")),
    ("C/R challenge", "challenge_response", "spamassassin-t.rules-bounce", "BOUNCE_MESSAGE/10",
     ("challenge",)),
    # an iCloud vacation reply with In-Reply-To (an unknown Message-ID)
    ("out-of-office autoreply", "autoreply", "sisimai-set-of-emails", "bsd/rfc3834-03.eml",
     ("autoreply",)),
]


def make_postfixes(tmp, a_in, a_sub, b_in, milter_port):
    """Instance A (example.test, milter = backstop) and B (remote.test, bounces)."""
    def queue_and_transport(root):
        return f"""\
# run queues promptly: this is a test
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 0
smtp_connect_timeout = 5s
transport_maps = texthash:{root}/etc/transport
"""
    a_root, b_root = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    A = Instance(
        a_root, a_in, milter_port, domains=("example.test",),
        mailbox_maps=f"regexp:{a_root}/etc/vmailbox",
        listeners=[f"127.0.0.1:{a_sub} inet n - n - - smtpd -o syslog_name=postfix/submission"
                   " -o milter_macro_daemon_name=ORIGINATING"],
        extra=queue_and_transport(a_root) + """\
# Postfix itself adds no Message-ID: outbound mail without one gets backstop's
local_header_rewrite_clients =
""",
        files={"transport": f"remote.test smtp:[127.0.0.1]:{b_in}\n",
               # virtual(8) allows no $1 substitution here: known users, and one
               # "tagged" mailbox that catches any prvs= address backstop did not strip
               # (smtpd must accept the tagged form at RCPT, before the milter strips it)
               "vmailbox": "/^user@example\\.test$/ user/\n"
                           "/^colleague@example\\.test$/ colleague/\n"
                           "/^prvs=[0-9a-f]{10}=[^@]+@example\\.test$/ tagged/\n"})
    B = Instance(
        b_root, b_in, None, domains=(), hostname="mx.remote.test",
        # accept at RCPT although the error transport cannot deliver: B must
        # generate a real DSN, not reject in the SMTP dialogue
        extra=queue_and_transport(b_root)
        + "relay_domains = remote.test\nsmtpd_reject_unlisted_recipient = no\n",
        files={"transport": "remote.test error:5.1.1 mailbox unavailable\n"
                            f"example.test smtp:[127.0.0.1]:{a_in}\n"})
    return A, B


# -------------------------------------------------------------------- main --

def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, shared = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if os.geteuid() != 0:
        print("FAIL: needs root (private Postfix instances)")
        return 1
    for tool in ("postfix", "postqueue", "swaks"):
        if not shutil.which(tool):
            print(f"FAIL: {tool} not installed (scripts/install-deps.sh)")
            return 1
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        print("FAIL: no postfix user")
        return 1

    tmp = tempfile.mkdtemp(prefix="backstop-e2e.")
    os.chmod(tmp, 0o755)  # Postfix daemons (user postfix) must reach their queues
    say(f"work dir {tmp}")
    a_in, a_sub, b_in, milter_port, metrics_port = free_ports(5)
    A = B = bs = None
    checks = []

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        A, B = make_postfixes(tmp, a_in, a_sub, b_in, milter_port)
        checks = [pf.check_async() for pf in (A, B)]  # slow: overlaps backstop's start
        bs = Backstop(binary, tmp, milter_port, metrics_port)
        bs.write_config("tag")
        blog = ("backstop log", bs.logfile)
        berr = ("backstop stderr", bs.stderr)
        alog = ("Postfix A maillog", A.maillog)
        bmlog = ("Postfix B maillog", B.maillog)

        if not check(bs.start(), "backstop serve starts and listens (milter, metrics)", [blog, berr]):
            return 1
        A.start(checks[0])
        B.start(checks[1])
        if not check(wait_for(lambda: all(listening(p) for p in (a_in, a_sub, b_in)), 30),
                     "both Postfix instances listen", [alog, bmlog]):
            return 1

        # ---- c. outbound: sign, record, relay, DSN comes back to the user
        mid = f"e2e-out-{secrets.token_hex(6)}@example.test"
        out = send(a_sub, "user@example.test", "someone@remote.test",
                   "--header", f"Message-Id: <{mid}>", "--header", "Subject: outbound e2e")
        check((reply_to(out, ".") or "").startswith("250"),
              "c: submission on the ORIGINATING port accepted", [alog, blog], out)

        def b_from():
            A.flush()
            return re.search(r"from=<(prvs=[0-9a-f]{10}=user@example\.test)>", B.log())
        m = wait_for(b_from, 60, 0.5)
        tagged = m.group(1) if m else None
        check(m, "c: relayed to B with a prvs= envelope sender (B maillog from=<prvs=...>)",
              [alog, bmlog, blog])
        led = wait_for(lambda: bs.ledger_show(mid).returncode == 0 and bs.ledger_show(mid), 15)
        check(led and f"<{mid}>" in led.stdout and "user@example.test" in led.stdout
              and "someone@remote.test" in led.stdout,
              f"c: Message-ID <{mid}> is in the ledger (backstop ledger show)", [blog],
              led.stdout if led else bs.ledger_show(mid).stdout)

        # outbound without a Message-ID, delivered locally: backstop adds one
        msg_noid = os.path.join(tmp, "noid.eml")
        with open(msg_noid, "w") as f:
            f.write("From: user@example.test\nTo: colleague@example.test\n"
                    "Subject: no message-id e2e\nDate: Thu, 26 Nov 2026 10:00:00 +0000\n\nhello\n")
        out = send(a_sub, "user@example.test", "colleague@example.test", data=msg_noid)
        check((reply_to(out, ".") or "").startswith("250"),
              "c: submission without a Message-ID accepted", [alog, blog], out)
        files = wait_for(lambda: maildir_files(A, "colleague"), 30)
        text = read(files[0]) if files else ""
        ids = header_values(text, "Message-ID")
        rp = header_values(text, "Return-Path")
        check(len(ids) == 1 and ".backstop@" in ids[0],
              "c: outbound mail without a Message-ID gets exactly one, added by backstop",
              [alog, blog], text[:1500])
        check(rp and re.fullmatch(r"<prvs=[0-9a-f]{10}=user@example\.test>", rp[0]),
              "c: delivered with a prvs= Return-Path", [alog], text[:1500])
        if ids:
            added = ids[0].strip("<>")
            led = wait_for(lambda: bs.ledger_show(added).returncode == 0, 15)
            check(led, f"c: the added Message-ID <{added}> is in the ledger", [blog],
                  bs.ledger_show(added).stdout)

        # ---- b. tag mode: backscatter answering unknown Message-IDs, refused at end of DATA
        for what, want_label, set_name, rel, kinds in BACKSCATTER:
            path, label = corpus_file(shared, set_name, rel)
            if not check(os.path.exists(path) and label == want_label,
                         f"b: corpus file {set_name}/{rel} exists, labelled {want_label}",
                         extra=f"label={label}"):
                continue
            with open(path, "rb") as f:
                raw = f.read().decode("utf-8", "replace")
            rp = header_values(raw, "Return-Path")
            sender = rp[0] if rp and rp[0] not in ("<>", "") else "<>"
            if sender != "<>":
                sender = sender.strip("<>")
            nlog = len(bs.log().splitlines())
            out = send(a_in, sender, "user@example.test", data=path)
            tr = replies(out)
            r_rcpt, r_dot = reply_to(out, "RCPT"), reply_to(out, ".")
            check(r_rcpt and r_rcpt.startswith("250") and r_dot and r_dot.startswith("550 5.7.1"),
                  f"b: {what} ({rel}, MAIL FROM:<{sender.strip('<>')}>) accepted at RCPT "
                  "(tag mode), refused 550 5.7.1 at end of DATA",
                  [blog, alog], "\n".join(f"{c}: {r}" for c, r in tr))
            new = "\n".join(wait_for(lambda: [l for l in bs.log().splitlines()[nlog:]
                                               if "role=inbound" in l and " kind=" in l], 5))
            check(re.search(r" kind=(%s) verdict=not_ours action=reject" % "|".join(kinds), new),
                  f"b: backstop logs the {what} as kind {'|'.join(kinds)}, not_ours, reject",
                  [blog], new)

        # ---- c (cont). B's DSN to the tagged address is delivered to the user
        def dsn_delivered():
            A.flush()
            B.flush()
            for p in maildir_files(A, "user"):
                t = read(p)
                if mid in t and header_values(t, "Return-Path") == ["<>"]:
                    return p
            return None
        p = wait_for(dsn_delivered, 60, 0.5)
        text = read(p) if p else ""
        check(re.search(rf"to=<someone@remote\.test>.*status=bounced", B.log()),
              "c: B bounced someone@remote.test", [bmlog])
        check(p, f"c: B's DSN of <{mid}> delivered to A's user Maildir", [alog, bmlog, blog])
        if p:
            check(header_values(text, "Delivered-To") == ["user@example.test"]
                  and header_values(text, "X-Original-To") == ["user@example.test"]
                  and re.search(r"report-type=delivery-status", text)
                  and any("MAILER-DAEMON@mx.remote.test" in v for v in header_values(text, "From")),
                  "c: the DSN is B's report, to the untagged user (X-Original-To/Delivered-To)",
                  [], text[:3000])
        check(not maildir_files(A, "tagged"),
              "c: nothing delivered to a tagged mailbox name")
        check(tagged and re.search(rf"to=<user@example\.test>.*relay=virtual.*status=sent", A.log()),
              "c: A's maillog shows delivery to user@example.test", [alog])

        # ---- e. SIGHUP to enforce on a connection held open across the reload
        held = smtplib.SMTP("127.0.0.1", a_in, local_hostname="client.test", timeout=60)
        held.ehlo()
        c1 = held.mail("")
        c2 = held.rcpt("user@example.test")
        check(c1[0] == 250 and c2[0] == 250,
              "e: tag mode: null sender to an untagged user accepted at RCPT", [blog, alog],
              f"{c1} {c2}")
        reloads = bs.log().count("reloaded configuration")
        bs.write_config("enforce")
        bs.proc.send_signal(signal.SIGHUP)
        check(wait_for(lambda: bs.log().count("reloaded configuration") > reloads, 15),
              "e: SIGHUP: backstop logs the reload", [blog])
        def held_data(subject):
            """(code, text) of DATA with an untagged note to the user on `held`."""
            body = ("From: someone@remote.test\r\nTo: user@example.test\r\n"
                    f"Message-ID: <e2e-held-{secrets.token_hex(4)}@remote.test>\r\n"
                    f"Subject: {subject}\r\n\r\njust a note\r\n")
            try:
                return held.data(body)
            except smtplib.SMTPException as e:
                return (getattr(e, "smtp_code", -1), getattr(e, "smtp_error", str(e).encode()))

        c3 = held_data("held across reload")
        c4 = held.mail("")
        c5 = held.rcpt("user@example.test")
        # This session negotiated RCPT without a reply (tag mode: nothing
        # refused there then), so the refusal comes at end of DATA instead.
        c5d = held_data("untagged, after the reload")
        c6 = held.quit()
        # MAIL and RCPT are no-reply here (tag mode when the session began), so
        # Postfix buffers them and backstop learns of the transaction only at
        # DATA, after the reload: it is judged under enforce.
        check(c3[0] == 550 and b"5.7.1" in (c3[1] or b""),
              "e: the transaction open during the reload is judged at DATA under the new mode: "
              "untagged bounce refused 550 5.7.1", [blog, alog], f"{c3}")
        check(c4[0] == 250 and c5[0] == 250 and c5d[0] == 550 and b"5.7.1" in (c5d[1] or b"") and c6[0] == 221,
              "e: same connection after the reload: the untagged null-sender message is refused "
              "550 5.7.1 at end of DATA (RCPT was negotiated without a reply)",
              [blog, alog], f"{c4} {c5} {c5d} {c6}")

        # ---- a. enforce mode: refused at RCPT
        out = send(a_in, "<>", "user@example.test")
        r = reply_to(out, "RCPT") or ""
        check(r.startswith("550 5.7.1"), "a: enforce: null sender to user@example.test "
              "without a tag refused 550 5.7.1 at RCPT", [blog, alog], out)
        out = send(a_in, "<>", "prvs=0000000000=user@example.test")
        r = reply_to(out, "RCPT") or ""
        check(r.startswith("550 5.7.1"), "a: enforce: a forged prvs= tag refused 550 5.7.1 at RCPT",
              [blog, alog], out)
        if tagged:
            out = send(a_in, "<>", tagged, "--header", "Subject: tagged, enforce")
            r = reply_to(out, "RCPT") or ""
            check(r.startswith("250"), "a: enforce: the valid tag from c is accepted at RCPT",
                  [blog, alog], out)

        # ---- f. metrics
        try:
            st, metrics = bs.metrics()
            hst, _ = bs.metrics("/healthz")
        except OSError as e:
            st, metrics, hst = -1, str(e), -1
        rejects = 0
        for line in metrics.splitlines():
            mm = re.match(r'^backstop_messages_total\{([^}]*)\}\s+([0-9.e+]+)', line)
            if mm and 'action="reject"' in mm.group(1):
                rejects += float(mm.group(2))
        check(st == 200 and rejects >= len(BACKSCATTER),
              f"f: /metrics backstop_messages_total counts {len(BACKSCATTER)}+ end-of-data rejects "
              f"(found {rejects:g})", [],
              "\n".join(l for l in metrics.splitlines() if l.startswith("backstop_")) or metrics)
        batv_rejects = sum(float(mm.group(2)) for mm in re.finditer(
            r'^backstop_batv_recipients_total\{([^}]*action="reject"[^}]*)\}\s+([0-9.e+]+)',
            metrics, re.M))
        check(batv_rejects >= 3, f"f: /metrics backstop_batv_recipients_total counts the 3 RCPT "
              f"rejects (found {batv_rejects:g})", [],
              "\n".join(l for l in metrics.splitlines() if "batv" in l))
        check(hst == 200, "f: /healthz answers 200")

        # ---- d. kill -9 in the middle of a transaction
        kmid = f"e2e-kill-{secrets.token_hex(4)}@remote.test"
        kbody = ("From: friend@remote.test\r\nTo: user@example.test\r\n"
                 f"Message-ID: <{kmid}>\r\nSubject: kill -9 e2e\r\n\r\nplease do not lose me\r\n")
        s = smtplib.SMTP("127.0.0.1", a_in, local_hostname="client.test", timeout=60)
        s.ehlo()
        k1 = s.mail("friend@remote.test")
        k2 = s.rcpt("user@example.test")
        check(k1[0] == 250 and k2[0] == 250, "d: transaction open (MAIL, RCPT accepted)",
              [blog, alog], f"{k1} {k2}")
        bs.proc.kill()
        bs.proc.wait()
        try:
            k3 = s.data(kbody)
        except smtplib.SMTPException as e:
            k3 = (getattr(e, "smtp_code", -1), getattr(e, "smtp_error", str(e)))
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
        check(400 <= k3[0] < 500, "d: kill -9 mid-transaction: Postfix answers 4xx at DATA/end of DATA",
              [alog], f"{k3}")
        out = send(a_in, "friend@remote.test", "user@example.test")
        check((reply_to(out, "MAIL") or "").startswith("451 4.7.1"),
              "d: while backstop is down: 451 4.7.1 (milter_default_action = tempfail)", [alog], out)
        check("Mail queue is empty" in A.queue(), "d: nothing of the refused message is queued",
              [alog], A.queue())
        if not check(bs.start(), "d: backstop restarts on the same ports and state", [blog, berr]):
            return 1
        kfile = os.path.join(tmp, "kill.eml")
        with open(kfile, "w") as f:
            f.write(kbody.replace("\r\n", "\n"))
        out = send(a_in, "friend@remote.test", "user@example.test", data=kfile)
        check((reply_to(out, ".") or "").startswith("250"),
              "d: after the restart the retried message is accepted", [blog, alog], out)

        def kill_copies():
            return [p for p in maildir_files(A, "user") if kmid in read(p)]
        got = wait_for(kill_copies, 30)
        time.sleep(0.5)
        check(len(kill_copies()) == 1, "d: ...and delivered exactly once", [alog],
              f"{len(kill_copies())} copies")

        # ---- e. SIGTERM: clean exit
        bs.proc.send_signal(signal.SIGTERM)
        try:
            rc = bs.proc.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0 and "stopped" in bs.log(), f"e: SIGTERM: backstop drains and exits 0 (rc={rc})",
              [blog, berr])

        # ---- g. the milter on a unix socket, set up as docs/install.md does for
        # Debian's chrooted smtpd: the socket inside the queue directory and a
        # path relative to it in smtpd_milters (resolved in and out of a chroot)
        sockdir = os.path.join(A.root, "spool", "backstop")
        os.makedirs(sockdir, exist_ok=True)
        os.chmod(sockdir, 0o755)
        sock = os.path.join(sockdir, "milter.sock")
        bs.write_config("tag", listen=f"unix:{sock}", flush_ms=None)  # the default, buffered log
        bs.ports = (bs.metrics_port,)
        if check(bs.start() and wait_for(lambda: os.path.exists(sock), 10),
                 "g: backstop serve listens on a unix socket in the queue directory", [blog, berr]):
            run(["postconf", "-c", A.etc, "-e", "smtpd_milters = unix:backstop/milter.sock"])
            run(["postfix", "-c", A.etc, "reload"])
            time.sleep(1)
            what, _label, set_name, rel, _kinds = BACKSCATTER[0]
            path, _ = corpus_file(shared, set_name, rel)
            nlog = len(bs.log().splitlines())
            out = send(a_in, "<>", "user@example.test", data=path)
            check((reply_to(out, ".") or "").startswith("550 5.7.1"),
                  f"g: over the unix socket the {what} is refused 550 5.7.1 at end of DATA",
                  [blog, alog], out)
            gmid = f"unix-{os.getpid()}@remote.test"
            gfile = os.path.join(tmp, "unix.eml")
            with open(gfile, "w") as f:
                f.write(f"From: friend@remote.test\nTo: user@example.test\nSubject: over the socket\n"
                        f"Message-ID: <{gmid}>\n\nHello.\n")
            out = send(a_in, "friend@remote.test", "user@example.test", data=gfile)
            check((reply_to(out, ".") or "").startswith("250"),
                  "g: ...and a plain message is accepted", [blog, alog], out)
            got = wait_for(lambda: [p for p in maildir_files(A, "user") if gmid in read(p)], 30)
            check(got, "g: ...and delivered to the user", [alog])
            # the decision log is buffered (log.flush_ms, default 1 s): wait for the flush
            check(wait_for(lambda: len([l for l in bs.log().splitlines()[nlog:] if "role=inbound" in l]) == 2, 10),
                  "g: backstop logged both decisions (buffered log, written within log.flush_ms)", [blog])
        bs.stop()
    except Exception as e:  # noqa: BLE001 - report and fail, cleanup below
        import traceback
        traceback.print_exc()
        FAILURES.append(f"exception: {e}")
    finally:
        for c in checks:
            if c.poll() is None:
                c.kill()
                c.wait()
        if bs:
            try:
                bs.stop()
            except Fail as e:
                FAILURES.append(str(e))
                say(f"FAIL {e}")
        for pf in (A, B):
            if pf:
                pf.stop()
        if FAILURES and bs:
            print("---- backstop log (last 60 lines)")
            for line in tail(bs.logfile, 60):
                print("   ", line)
            print("---- backstop stderr (last 30 lines)")
            for line in tail(bs.stderr, 30):
                print("   ", line)
        if KEEP:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if FAILURES:
        say(f"{len(FAILURES)} check(s) failed:")
        for f in FAILURES:
            print(f"  - {f}")
        return 1
    say("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
