#!/usr/bin/env python3
"""End-to-end test of the spamtrap DNSBL through real Postfix (issue 6).

usage: run_dnsbl_e2e.py BACKSTOP_BINARY SHARED_DIR

All on loopback with free high ports, under a private temporary directory
(kept when BACKSTOP_E2E_KEEP=1):

  Postfix  smtpd on 127.0.0.1:SMTP, milter = backstop; example.test (protected)
           and trap.test (trap domain) are delivered to one Maildir.
  backstop serve: trap.domains = ["trap.test"], one DNSBL zone bs.test
           (action reject) resolved at 127.0.0.1:DNS.
  rbldnsd  serves the zone exported by `backstop dnsbl export` on 127.0.0.1:DNS.

The SMTP client (swaks) binds to 127.0.0.5 (listed) or 127.0.0.6 (never listed);
Linux accepts any 127/8 source address on lo. 127.0.0.2 is avoided: it is the
RFC 5782 test entry, always listed.

Steps:
  1  a real DSN (sisimai corpus, LABELS.tsv dsn_bounce) from <> to a trap.test
     address from 127.0.0.5 is rejected, and `backstop dnsbl list` lists 127.0.0.5;
  2  `dnsbl export` + rbldnsd: dig answers A and TXT for 127.0.0.5, NXDOMAIN
     for 127.0.0.6;
  3  backstop restarted: a null-sender connection from 127.0.0.5 to
     user@example.test is refused at MAIL FROM with 554 5.7.1 and the TXT; the
     same from 127.0.0.6 is not refused at MAIL;
  4  `dnsbl delist` + re-export (TTL 1 s) picked up by the same rbldnsd; once
     the cached answer expires, the same connection from 127.0.0.5 passes MAIL
     FROM, without restarting backstop.
Exit status: 0 passed, 1 a check failed or a prerequisite is missing.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import (DAEMON_TOML, BackstopServe, Fail, Postfix, free_port_both, free_ports, listening, reply_to,  # noqa: E402
                       run, say, swaks, tail, wait_for)

KEEP = os.environ.get("BACKSTOP_E2E_KEEP") == "1"
ZONE = "bs.test"
LISTED = "127.0.0.5"
CLEAN = "127.0.0.6"
CORPUS = ("sisimai-set-of-emails", ["bsd/lhost-postfix-01.eml", "bsd/lhost-postfix-02.eml",
                                    "bsd/lhost-sendmail-01.eml"])


class Backstop(BackstopServe):
    def __init__(self, binary, tmp, milter_port, dns_port):
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
[batv]
mode = "tag"
[ledger]
warmup_days = 0
[trap]
domains = ["trap.test"]
[dnsbl]
resolver = "127.0.0.1:{dns_port}"
timeout_ms = 1000
[[dnsbl.zones]]
zone = "{ZONE}"
action = "reject"
[log]
target = "{self.logfile}"
level = "debug"
# the checks read the log as soon as a transaction ends (and some look for absent lines)
flush_ms = 0
""")

    def cli(self, *args, check_rc=True):
        return run([self.binary, "dnsbl", "--state", self.state, *args], check_rc=check_rc)

    def export(self, zonedir):
        self.cli("export", "--zone", ZONE, "--out", zonedir, "--ttl", "1")


def dig(port, name, qtype):
    p = subprocess.run(["dig", f"@127.0.0.1", "-p", str(port), "+norecurse", "+notcp",
                        "+time=1", "+tries=1", name, qtype], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=10)
    status = re.search(r"status: (\w+)", p.stdout)
    answers = [l for l in p.stdout.splitlines() if l and not l.startswith(";")
               and re.search(rf"\sIN\s+{qtype}\s", l)]
    return (status.group(1) if status else None), answers, p.stdout


def queries(path, name, status):
    """How many `name A` queries rbldnsd logged (-l +-) with this status."""
    pat = re.compile(rf"\s{re.escape(name)} A IN: {status}/")
    return sum(1 for line in tail(path, 100000) if pat.search(line))


def pick_dsn(shared):
    set_name, candidates = CORPUS
    labels = {}
    with open(os.path.join(shared, "corpora", set_name, "LABELS.tsv")) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2:
                labels[cols[0]] = cols[1]
    for rel in candidates:
        path = os.path.join(shared, "corpora", set_name, rel)
        if labels.get(rel) == "dsn_bounce" and os.path.isfile(path):
            return rel, path
    raise Fail("no dsn_bounce message found in the corpus")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, shared = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if os.geteuid() != 0:
        print("FAIL: needs root (private Postfix instance)")
        return 1
    for tool in ("postfix", "swaks", "rbldnsd", "dig"):
        if not shutil.which(tool):
            print(f"FAIL: {tool} not installed")
            return 1

    tmp = tempfile.mkdtemp(prefix="backstop-dnsbl-e2e.")
    os.chmod(tmp, 0o755)
    zonedir = os.path.join(tmp, "zones")
    os.makedirs(zonedir)
    os.chmod(zonedir, 0o755)
    smtp_port, milter_port = free_ports(2)
    dns_port = free_port_both()
    say(f"work dir {tmp}; smtp {smtp_port}, milter {milter_port}, dns {dns_port}")

    pf = bs = None
    rbl = None
    rbl_out = os.path.join(tmp, "rbldnsd.out")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)

    def dump_logs():
        for label, path in (("maillog", pf.maillog if pf else ""),
                            ("backstop log", bs.logfile if bs else ""),
                            ("backstop stderr", bs.stderr if bs else ""),
                            ("rbldnsd", rbl_out)):
            if not path:
                continue
            print(f"    --- {label}, last lines:")
            for line in tail(path):
                print(f"    | {line}")

    ok = False
    check = None
    try:
        pf = Postfix(os.path.join(tmp, "pf"), smtp_port, milter_port, domains=("example.test", "trap.test"))
        bs = Backstop(binary, tmp, milter_port, dns_port)
        check = pf.check_async()  # slow: overlaps backstop's start
        bs.start()
        pf.start(check)
        if not wait_for(lambda: listening(smtp_port), 20):
            raise Fail("Postfix smtpd is not listening")
        say("Postfix and backstop up")

        # 1. a real DSN to the trap domain lists the client
        rel, dsn = pick_dsn(shared)
        out = swaks(smtp_port, "<>", "someone@trap.test", LISTED, data=dsn)
        r = reply_to(out, ".")
        if not r or not r.startswith("5"):
            raise Fail(f"the DSN ({rel}) to the trap was not rejected at end of DATA: {r!r}\n{out}")
        say(f"ok   DSN {rel} to someone@trap.test from {LISTED}: {r}")
        listed = wait_for(lambda: re.search(rf"^{re.escape(LISTED)}\s.*listed",
                                            bs.cli("list").stdout, re.M), 10)
        if not listed:
            raise Fail(f"{LISTED} not listed after the trap hit:\n{bs.cli('list').stdout}")
        say(f"ok   dnsbl list: {listed.group(0)}")
        show = bs.cli("show", LISTED, check_rc=False).stdout
        say("     dnsbl show: " + " / ".join(show.strip().splitlines()))

        # 2. export + rbldnsd
        bs.export(zonedir)
        with open(os.path.join(zonedir, f"{ZONE}.ip4set")) as f:
            exported = f.read()
        if not re.search(rf"^{re.escape(LISTED)}\s", exported, re.M):
            raise Fail(f"{LISTED} not in the export:\n{exported}")
        with open(rbl_out, "w") as o:
            rbl = subprocess.Popen(["rbldnsd", "-n", "-r", zonedir, "-b", f"127.0.0.1/{dns_port}",
                                    "-c", "1s", "-t", "60", "-l", "+-",
                                    f"{ZONE}:ip4set:{ZONE}.ip4set", f"{ZONE}:ip6trie:{ZONE}.ip6trie"],
                                   stdout=o, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        qname = ".".join(reversed(LISTED.split("."))) + "." + ZONE
        got = wait_for(lambda: rbl.poll() is None and dig(dns_port, qname, "A")[0] == "NOERROR", 10)
        if not got:
            raise Fail(f"rbldnsd does not answer {qname} A:\n{dig(dns_port, qname, 'A')[2]}")
        st, a, _ = dig(dns_port, qname, "A")
        st_t, txt, _ = dig(dns_port, qname, "TXT")
        if st_t != "NOERROR" or not txt:
            raise Fail(f"no TXT for {qname}: {st_t}")
        txt_text = re.search(r'"(.*)"', txt[0]).group(1)
        say(f"ok   dig {qname}: A {a[0].split()[-1]}, TXT \"{txt_text}\"")
        cname = ".".join(reversed(CLEAN.split("."))) + "." + ZONE
        st_c = dig(dns_port, cname, "A")[0]
        if st_c != "NXDOMAIN":
            raise Fail(f"{cname} A: {st_c}, expected NXDOMAIN")
        st_1 = dig(dns_port, "1.0.0.127." + ZONE, "A")[0]
        if st_1 != "NXDOMAIN":
            raise Fail(f"1.0.0.127.{ZONE} A: {st_1}, expected NXDOMAIN (127.0.0.1 is never listed)")
        say(f"ok   dig {cname}: NXDOMAIN")

        # 3. restart backstop (nothing stale in its DNSBL cache), then MAIL FROM:<>
        bs.stop()
        bs.start()
        say("backstop restarted")
        out = swaks(smtp_port, "<>", "user@example.test", LISTED)
        r = reply_to(out, "MAIL")
        if not r or not r.startswith("554 5.7.1"):
            raise Fail(f"null sender from {LISTED}: MAIL got {r!r}, expected 554 5.7.1\n{out}")
        # the TXT as sent by the milter (sanitised, at most 200 bytes): a prefix must appear
        if txt_text[:200] not in out:
            raise Fail(f"the listing's TXT is not in the reply:\nTXT: {txt_text}\n{out}")
        say(f"ok   null sender from {LISTED} refused at MAIL: {r}")
        n = queries(rbl_out, cname, "NXDOMAIN")
        out = swaks(smtp_port, "<>", "user@example.test", CLEAN)
        r = reply_to(out, "MAIL")
        if not r or not r.startswith("250"):
            raise Fail(f"null sender from {CLEAN}: MAIL got {r!r}, expected 250\n{out}")
        # backstop did look it up (safe mode: null sender) and got NXDOMAIN, not an error
        if not wait_for(lambda: queries(rbl_out, cname, "NXDOMAIN") > n, 3):
            raise Fail(f"rbldnsd logged no NXDOMAIN query for {cname} from backstop")
        say(f"ok   null sender from {CLEAN} passes MAIL (rbldnsd answered NXDOMAIN): {r}")

        # 4. delist + re-export; the same rbldnsd picks it up; the 1 s TTL expires
        time.sleep(1.1)  # a new mtime second for rbldnsd's check
        d = bs.cli("delist", LISTED).stdout
        if "delisted" not in d:
            raise Fail(f"delist: {d}")
        if re.search(rf"^{re.escape(LISTED)}\s.*listed", bs.cli("list").stdout, re.M):
            raise Fail(f"{LISTED} still in dnsbl list after delist")
        bs.export(zonedir)
        if not wait_for(lambda: dig(dns_port, qname, "A")[0] == "NXDOMAIN", 10):
            raise Fail(f"rbldnsd still answers {qname} 10 s after the re-export")
        if rbl.poll() is not None:
            raise Fail("rbldnsd died")
        say(f"ok   delisted, re-exported; dig {qname}: NXDOMAIN")
        time.sleep(1.5)  # the positive answer (TTL 1 s) leaves backstop's cache
        n = queries(rbl_out, qname, "NXDOMAIN")
        out = swaks(smtp_port, "<>", "user@example.test", LISTED)
        r = reply_to(out, "MAIL")
        if not r or not r.startswith("250"):
            raise Fail(f"null sender from {LISTED} after delist: MAIL got {r!r}, expected 250\n{out}")
        if not wait_for(lambda: queries(rbl_out, qname, "NXDOMAIN") > n, 3):
            raise Fail(f"rbldnsd logged no NXDOMAIN query for {qname} from backstop after delist")
        say(f"ok   null sender from {LISTED} passes MAIL after delist (re-queried: NXDOMAIN): {r}")

        bs.stop()
        say("ok   backstop exited 0 on SIGTERM")
        ok = True
    except Fail as e:
        say(f"FAIL {e}")
        dump_logs()
    except Exception as e:  # noqa: BLE001 - report, dump, fail
        say(f"FAIL {type(e).__name__}: {e}")
        dump_logs()
    finally:
        if check and check.poll() is None:
            check.kill()
            check.wait()
        if bs and bs.proc and bs.proc.poll() is None:
            bs.proc.kill()
            bs.proc.wait()
        if rbl and rbl.poll() is None:
            rbl.terminate()
            try:
                rbl.wait(5)
            except subprocess.TimeoutExpired:
                rbl.kill()
                rbl.wait()
        if pf:
            pf.stop()
        if KEEP:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    say("PASS" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
