#!/usr/bin/env python3
"""`backstop audit` against real Postfix instances on loopback (issue 17).

usage: run_audit_e2e.py BACKSTOP_BINARY

Four private Postfix instances, each smtpd on 127.0.0.1 with a free port,
mynetworks a single unused address so the probe is an Internet client:

  backend  relay.test as virtual mailbox domain: refuses unknown users;
  edge     relays relay.test to the backend with no relay_recipient_maps and no
           recipient verification; its transport map sends mail for
           capture.test to the --capture receiver (so the bounce to the
           probe's sender reaches backstop);
  local    mydestination = local.test with an empty local_recipient_maps,
           plus planted: soft_bounce, a catch-all virtual alias, a public
           smtpd with -o smtpd_reject_unlisted_recipient=no, milter_default_action
           = accept in front of an after-queue content_filter, a 450
           unknown-recipient code, and (a near miss) the content filter's
           reinjection smtpd with no_unknown_recipient_checks;
  good     reject_unlisted_recipient, relay_recipient_maps, postmaster.

  a  audit smtp finds accept-then-bounce on the edge and on local; exit 1;
     --mx through a small DNS server (MX, then A) finds it on the edge too;
  b  audit smtp --capture on the edge receives Postfix's real bounce and
     reports it (time, classification bounce, status 5.1.1);
  c  audit postfix --config-dir finds every planted setting (and nothing
     else) on edge and local, each with its fix; on local with --amavis (a
     bounce-destiny amavisd-new) also the content filter that bounces;
  d  the good instance: audit smtp and audit postfix exit 0, no findings;
  e  the edge's own fix line applied (postconf -e, reload): audit postfix
     and audit smtp then exit 0;
  f  amavisd-new's Debian conf.d (from the package): clean; with D_BOUNCE
     and sender warnings in 50-user: flagged at those lines;
  g  Sieve scripts: each flagged as it should be, the guarded one not;
  h  exit status 2: a refused connection, a missing config directory, a
     usage error; every --format json output parses.
Exit status: 0 passed, 1 a check failed or a prerequisite is missing.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from pfharness import (Checks, Fail, Postfix, free_ports, ignore_signals, missing_prerequisites,  # noqa: E402
                       run, say, stop_on_signals)
import mta  # noqa: E402

KEEP = os.environ.get("BACKSTOP_E2E_KEEP") == "1"
IDENTITY = ["--helo", "probe.audit.test", "--sender", "backstop-audit@probe.audit.test"]


def audit(binary, *args, timeout=120):
    """(exit status, stdout, stderr) of `backstop audit ARGS`."""
    p = subprocess.run([binary, "audit", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, errors="replace", timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def audit_json(binary, *args, timeout=120):
    """(exit status, parsed JSON report or None, stderr)."""
    rc, out, err = audit(binary, *args, "--format", "json", timeout=timeout)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, err + "\n(stdout not JSON)\n" + out


class MxDns:
    """A DNS server on 127.0.0.1 (UDP, a free port) that knows one mail
    domain: MX `domain` -> 10 mx.<domain>, A mx.<domain> -> 127.0.0.1;
    NXDOMAIN for anything else. For --mx."""

    def __init__(self, domain):
        import socket
        import threading
        self.domain = domain
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def _name(n):
        return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\0"

    def _serve(self):
        import struct
        while True:
            try:
                q, addr = self.sock.recvfrom(512)
            except OSError:
                return
            qid = q[:2]
            at, labels = 12, []
            while q[at]:
                labels.append(q[at + 1:at + 1 + q[at]].decode().lower())
                at += 1 + q[at]
            qname, (qtype,) = ".".join(labels), struct.unpack(">H", q[at + 1:at + 3])
            question = q[12:at + 5]
            self.queries.append((qname, qtype))
            answers, rcode = [], 0
            if qname == self.domain and qtype == 15:
                answers.append((15, struct.pack(">H", 10) + self._name("mx." + self.domain)))
            elif qname == "mx." + self.domain and qtype == 1:
                answers.append((1, bytes([127, 0, 0, 1])))
            elif qname not in (self.domain, "mx." + self.domain):
                rcode = 3
            out = qid + struct.pack(">BBHHHH", 0x85, 0x80 | rcode, 1, len(answers), 0, 0) + question
            for t, rd in answers:
                out += b"\xc0\x0c" + struct.pack(">HHIH", t, 1, 60, len(rd)) + rd
            self.sock.sendto(out, addr)

    def close(self):
        self.sock.close()


def findings(report):
    return [f for s in (report or {}).get("sections", []) for f in s["findings"]]


def ids(report):
    return sorted(f["id"] for f in findings(report))


def main():
    binary = sys.argv[1]
    check = Checks()
    why = missing_prerequisites("postfix", "postconf", "dpkg-deb")
    if why:
        print(f"FAIL: {why}")
        return 1
    stop_on_signals()
    tmp = tempfile.mkdtemp(prefix="backstop-audit-e2e-")
    os.chmod(tmp, 0o755)
    instances = []
    try:
        (backend_port, edge_port, local_port, local_pub2, local_reinject, good_port, capture_port,
         dead1, dead2, closed) = free_ports(10)
        d = {n: os.path.join(tmp, n) for n in ("backend", "edge", "local", "good")}
        etc = {n: os.path.join(p, "etc") for n, p in d.items()}
        no_clients = "mynetworks = 127.0.0.254/32\n"
        backend = Postfix(d["backend"], backend_port, None, domains=("relay.test",), hostname="mx.backend.test",
                          mailbox_maps=f"texthash:{etc['backend']}/mailboxes",
                          files={"mailboxes": "alice@relay.test alice/\npostmaster@relay.test pm/\n"},
                          extra=no_clients)
        edge = Postfix(d["edge"], edge_port, None, domains=(), hostname="mx.edge.test",
                       files={"transport": f"relay.test smtp:[127.0.0.1]:{backend_port}\n"
                                           f"capture.test smtp:[127.0.0.1]:{capture_port}\n"},
                       extra=no_clients + f"relay_domains = relay.test\n"
                                          f"transport_maps = texthash:{etc['edge']}/transport\n"
                                          "address_verify_poll_delay = 1s\n")
        local = Postfix(d["local"], local_port, None, domains=(), hostname="mx.local.test",
                        listeners=[f"127.0.0.1:{local_pub2} inet n - n - - smtpd"
                                   " -o smtpd_reject_unlisted_recipient=no",
                                   f"127.0.0.1:{local_reinject} inet n - n - - smtpd -o content_filter="
                                   " -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks",
                                   "amavis unix - - n - 2 smtp"],
                        files={"virtual": "info@alias.test alice@local.test\n@alias.test alice@local.test\n"},
                        extra=no_clients + f"""\
mydestination = local.test
local_recipient_maps =
soft_bounce = yes
virtual_alias_maps = texthash:{etc['local']}/virtual
smtpd_milters = inet:127.0.0.1:{dead1}
milter_default_action = accept
content_filter = amavis:[127.0.0.1]:{dead2}
unknown_local_recipient_reject_code = 450
""")
        good = Postfix(d["good"], good_port, None, domains=("good.test",), hostname="mx.good.test",
                       mailbox_maps=f"texthash:{etc['good']}/mailboxes",
                       files={"mailboxes": "alice@good.test alice/\npostmaster@good.test postmaster/\n",
                              "relay_recipients": "carol@relay-good.test x\npostmaster@relay-good.test x\n"},
                       extra=no_clients + f"""\
relay_domains = relay-good.test
relay_recipient_maps = texthash:{etc['good']}/relay_recipients
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, reject_unlisted_recipient
""")
        checks = [(pf, pf.check_async()) for pf in (backend, edge, local, good)]
        for pf, c in checks:
            pf.start(c)
            instances.append(pf)
        say("four Postfix instances up")
        logs = [("edge maillog", edge.maillog), ("backend maillog", backend.maillog)]

        # a
        for name, port, domain in (("edge", edge_port, "relay.test"), ("local", local_port, "local.test")):
            rc, rep, err = audit_json(binary, "smtp", f"127.0.0.1:{port}", "--domain", domain, *IDENTITY)
            check(rc == 1 and ids(rep) == ["smtp.accept-then-bounce"],
                  f"a: audit smtp {name}: accept-then-bounce, exit 1 (got {rc} {ids(rep)} {err.strip()})")

        dns = MxDns("relay.test")
        rc, rep, err = audit_json(binary, "smtp", "--mx", "relay.test", "--dns-server", f"127.0.0.1:{dns.port}",
                                  "--port", str(edge_port), *IDENTITY)
        targets = [s["target"] for s in (rep or {}).get("sections", [])]
        check(rc == 1 and ids(rep) == ["smtp.accept-then-bounce"] and
              targets == [f"smtp 127.0.0.1:{edge_port} (domain relay.test)"] and
              ("relay.test", 15) in dns.queries and ("mx.relay.test", 1) in dns.queries,
              f"a: audit smtp --mx resolves MX then A and probes the edge ({rc} {targets} {dns.queries} {err.strip()})")
        dns.close()

        # b
        t0 = time.monotonic()
        rc, rep, err = audit_json(binary, "smtp", f"127.0.0.1:{edge_port}", "--domain", "relay.test", *IDENTITY,
                                  "--capture", f"127.0.0.1:{capture_port}", "--capture-sender", "audit@capture.test",
                                  "--capture-wait", "30", "--timeout", "10")
        took = time.monotonic() - t0
        cap = [f for f in findings(rep) if f["id"] == "smtp.bounce-captured"]
        check(rc == 1 and len(cap) == 1, f"b: --capture reports the bounce ({rc} {ids(rep)} {err.strip()})", logs)
        if cap:
            title = cap[0]["title"]
            say(f"   {title}")
            m = re.search(r"came back after ([0-9.]+) s from <>, classified bounce \(confidence ([0-9.]+)\): 5\.1\.1", title)
            check(bool(m) and float(m.group(1)) < 30 and float(m.group(2)) >= 0.5,
                  "b: ...from the null sender, classified bounce, status 5.1.1, time measured")
        check(took < 40, f"b: the capture run took {took:.1f} s (it stops waiting when the bounce arrives)")

        # c
        rc, rep, err = audit_json(binary, "postfix", "--config-dir", etc["edge"])
        check(rc == 1 and ids(rep) == ["postfix.relay-without-recipient-check"],
              f"c: audit postfix edge: relay without recipient check only ({rc} {ids(rep)} {err.strip()})")
        edge_fix = findings(rep)[0]["fix"] if findings(rep) else ""
        check(f"postconf -c {etc['edge']} -e 'relay_recipient_maps = hash:{etc['edge']}/relay_recipients'" in edge_fix,
              "c: ...with its postconf -e fix line for this configuration directory")

        amavis_root = os.path.join(tmp, "amavis")
        why = mta.extract(["amavisd-new"], amavis_root)
        if why:
            raise Fail(why)
        confd = os.path.join(amavis_root, "etc", "amavis", "conf.d")
        bad_confd = os.path.join(tmp, "amavis-bad")
        shutil.copytree(confd, bad_confd)
        user = os.path.join(bad_confd, "50-user")
        with open(user) as f:
            text = f.read()
        marker = text.index("#------------ Do not modify anything below this line")
        planted = ("$final_virus_destiny = D_BOUNCE;\n$final_banned_destiny = D_BOUNCE;\n"
                   "$warnvirussender = 1;\n$warnbannedsender = 1;\n")
        bounce_line = text[:marker].count("\n") + 1
        with open(user, "w") as f:
            f.write(text[:marker] + planted + text[marker:])

        rc, rep, err = audit_json(binary, "postfix", "--config-dir", etc["local"], "--amavis", bad_confd)
        want = ["amavis.banned_destiny-bounce", "amavis.virus_destiny-bounce", "amavis.warnbannedsender",
                "amavis.warnvirussender", "postfix.catch-all-alias", "postfix.content-filter-bounces",
                "postfix.local-recipient-maps-empty", "postfix.milter-accept-then-filter",
                "postfix.reject-unlisted-recipient-off", "postfix.soft-bounce", "postfix.unknown-recipient-tempfail"]
        check(rc == 1 and ids(rep) == want, f"c: audit postfix local: every planted setting ({rc} {err.strip()})\n"
              f"      got  {ids(rep)}\n      want {want}")
        by_id = {f["id"]: f for f in findings(rep)}
        check(all(f["fix"] and f["explanation"] and f["where"] for f in findings(rep)),
              "c: ...each with where, why and fix")
        check(by_id.get("postfix.catch-all-alias", {}).get("where") == f"{etc['local']}/virtual:2",
              "c: the catch-all is named by file and line")
        check(by_id.get("postfix.reject-unlisted-recipient-off", {}).get("where", "").startswith(
            f"master.cf:2 (127.0.0.1:{local_pub2} inet)"), "c: the -o override is named by its master.cf line")
        check(by_id.get("postfix.local-recipient-maps-empty", {}).get("fix", "").startswith(
            f"postconf -c {etc['local']} -e 'local_recipient_maps = proxy:unix:passwd.byname $alias_maps'"),
            "c: local_recipient_maps fix line")
        check(by_id.get("postfix.soft-bounce", {}).get("fix") == f"postconf -c {etc['local']} -e 'soft_bounce = no' && postfix -c {etc['local']} reload",
              "c: soft_bounce fix line")
        check(not any(str(local_reinject) in f["where"] for f in findings(rep)),
              "c: near miss: the reinjection smtpd's no_unknown_recipient_checks is not flagged")
        rc, out, err = audit(binary, "postfix", "--config-dir", etc["local"])
        check(rc == 1 and "HIGH   postfix.local-recipient-maps-empty" in out and "fix: postconf -c" in out
              and "content_filter = amavis" in out, "c: the text report has severity, id, fix and the filter note")
        say("   text report of local:\n" + "\n".join("   | " + l for l in out.splitlines()[:14]))

        # d
        rc, out, err = audit(binary, "smtp", f"127.0.0.1:{good_port}", "--domain", "good.test", *IDENTITY)
        check(rc == 0 and "0 findings" in out, f"d: audit smtp good: exit 0, no findings ({rc} {out.strip()} {err.strip()})")
        rc, out, err = audit(binary, "postfix", "--config-dir", etc["good"])
        check(rc == 0 and "0 findings" in out, f"d: audit postfix good: exit 0 ({rc} {out.strip()} {err.strip()})")

        # e
        lines = re.findall(r"postconf -c \S+ -e '[^']*'", edge_fix)
        verify = [l for l in lines if "reject_unverified_recipient" in l]
        check(len(verify) == 1, f"e: the edge fix offers recipient verification ({lines})")
        if verify:
            run(shlex.split(verify[0]))
            run(["postfix", "-c", etc["edge"], "reload"])
            time.sleep(0.5)
            rc, rep, err = audit_json(binary, "postfix", "--config-dir", etc["edge"])
            check(rc == 0 and ids(rep) == [], f"e: after the fix audit postfix edge exits 0 ({rc} {ids(rep)})")
            rc, rep, err = audit_json(binary, "smtp", f"127.0.0.1:{edge_port}", "--domain", "relay.test", *IDENTITY)
            notes = [n for s in (rep or {}).get("sections", []) for n in s["notes"]]
            check(rc == 0 and ids(rep) == [], f"e: ...and audit smtp edge exits 0 ({rc} {ids(rep)} {notes})", logs)

        # f
        rc, rep, err = audit_json(binary, "scanners", "--amavis", confd)
        check(rc == 0 and ids(rep) == [], f"f: Debian's amavisd-new conf.d as shipped: clean ({rc} {ids(rep)} {err.strip()})")
        rc, rep, err = audit_json(binary, "scanners", "--amavis", bad_confd)
        check(rc == 1 and ids(rep) == want[:4], f"f: with D_BOUNCE and sender warnings: flagged ({rc} {ids(rep)})")
        where = {f["id"]: f["where"] for f in findings(rep)}
        check(where.get("amavis.virus_destiny-bounce") == f"{user}:{bounce_line}",
              f"f: ...at the line of 50-user ({where.get('amavis.virus_destiny-bounce')} vs {bounce_line})")

        # g
        rc, rep, err = audit_json(binary, "scanners", "--sieve", os.path.join(HERE, "sieve"))
        per_file = {}
        for f in findings(rep):
            per_file.setdefault(os.path.basename(f["where"].rsplit(":", 1)[0]), []).append(f["id"])
        want_sieve = {"reject-spam.sieve": ["sieve.reject"],
                      "roundcube-vacation.sieve": ["sieve.vacation-no-days", "sieve.vacation-unguarded"],
                      "short-interval.sieve": ["sieve.vacation-short-interval", "sieve.vacation-unguarded"]}
        check(rc == 1 and {k: sorted(v) for k, v in per_file.items()} == want_sieve,
              f"g: Sieve scripts flagged as expected, the guarded one clean ({rc} {per_file})")

        # h
        rc, out, err = audit(binary, "smtp", f"127.0.0.1:{closed}", "--domain", "x.test", *IDENTITY, "--timeout", "5")
        check(rc == 2 and "cannot connect" in err, f"h: a refused connection exits 2 ({rc} {err.strip()})")
        rc, out, err = audit(binary, "postfix", "--config-dir", os.path.join(tmp, "nonexistent"))
        check(rc == 2, f"h: a missing configuration directory exits 2 ({rc} {err.strip()})")
        rc, out, err = audit(binary, "smtp", f"127.0.0.1:{good_port}")
        check(rc == 2 and "--domain" in err, f"h: no --domain: usage error, exit 2 ({rc} {err.strip()})")
    except Fail as e:
        check.failures.append(str(e))
        say(f"FAIL {e}")
    finally:
        ignore_signals()
        for pf in instances:
            pf.stop()
        if not KEEP:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            say(f"kept {tmp}")
    print(f"{len(check.failures)} failure(s)")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
