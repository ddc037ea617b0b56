#!/usr/bin/env python3
"""End-to-end tests of cluster mode: several hosts' `backstop serve` sharing
one Redis (issue 15 acceptance).

usage: run_cluster_e2e.py BACKSTOP_BINARY SCENARIO
SCENARIO is one of:

  ledger      One redis-server; submission host A (Postfix on 127.0.0.2 with
              its own serve) and MX host B (Postfix on 127.0.0.3, its own
              serve). A message submitted through A to a recipient A's Postfix
              cannot deliver (error transport: unknown user) makes A's
              Postfix write a real DSN, routed to B; B's serve finds the
              Message-ID in the ledger A wrote, judges the DSN ours and it is
              delivered. A forged DSN of the same shape (a Message-ID never
              sent) is refused 550 5.7.1 by B. Prints MEMORY USAGE of the keys
              the run wrote.
  limits      Hosts A (127.0.0.2) and C (127.0.0.4), each Postfix with SASL
              (Cyrus, sasldb) and its own serve, one limit of 10 messages an
              hour per SASL user: 16 parallel authenticated sessions (8 per
              host) share 40 messages: exactly 10 are accepted and delivered,
              30 get 451 4.7.1, no other reply.
  redis-kill  Mail flows through A (outbound, ledger writes) and B (DSNs of
              that mail, ledger reads); redis-server (appendonly yes,
              appendfsync always) is SIGKILLed: every reply is 4xx, never 5xx;
              it restarts on the same port and mail flows again without a
              backstop restart; every Message-ID acknowledged with 250 before
              the kill is still in the ledger.
  failover    A master, one replica and three sentinels (down-after 1 s);
              both serves use redis.sentinel_master. Mail flows; the master is
              SIGKILLed: no 5xx, and mail is accepted again once the sentinels
              promoted the replica. Prints the measured times.

Everything runs on loopback with free ports under a private temporary
directory (kept when BACKSTOP_E2E_KEEP=1 or on failure), and every process
the test starts is stopped by PID at the end, also on failure and on SIGTERM.
Needs root, Debian `postfix`, `swaks`, `redis-server`, `redis-sentinel` and,
for `limits`, `sasl2-bin` (scripts/install-deps.sh). Exit status: 0 passed,
1 a check failed or a prerequisite is missing.
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
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import (DAEMON_TOML, BackstopServe, Checks, Fail, Postfix, RedisProcess, dsn,  # noqa: E402
                       free_ports, listening, reply_to, run, say, swaks, tail, wait_for)

KEEP = os.environ.get("BACKSTOP_E2E_KEEP") == "1"
PREFIX = "cluster:"
# The hosts of the cluster, each on its own loopback address.
ADDR_A, ADDR_B, ADDR_C = "127.0.0.2", "127.0.0.3", "127.0.0.4"
QUEUE = """\
# run queues promptly: this is a test
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 0
smtp_connect_timeout = 5s
smtpd_client_message_rate_limit = 0
"""


class Serve(BackstopServe):
    """One host's `backstop serve` (milter and /metrics on 127.0.0.1) with
    state.backend = "redis"; redis: the body of its [redis] table; extra:
    further tables, appended last."""

    def __init__(self, binary, tmp, name, redis, extra=""):
        d = os.path.join(tmp, name)
        os.makedirs(d, exist_ok=True)
        milter_port, metrics_port = free_ports(2)
        super().__init__(binary, d, milter_port, extra_ports=(metrics_port,))
        self.name, self.metrics_port = name, metrics_port
        with open(self.config, "w") as f:
            f.write(DAEMON_TOML + f"""\
[milter]
listen = "inet:127.0.0.1:{milter_port}"
threads = 4
[policy]
listen = ""
[metrics]
listen = "127.0.0.1:{metrics_port}"
[state]
dir = "{self.state}"
backend = "redis"
[redis]
{redis}prefix = "{PREFIX}"
timeout_ms = 500
[domains]
local = ["example.test"]
[batv]
mode = "off"
sign = false
[ledger]
warmup_days = 0
[log]
target = "{self.logfile}"
level = "debug"
flush_ms = 0
{extra}""")

    def ledger_show(self, mid=None, limit=None):
        """`backstop ledger show` through this host's configuration (so from the shared Redis)."""
        cmd = [self.binary, "ledger", "--config", self.config, "show"]
        if mid:
            cmd.append(mid)
        if limit:
            cmd += ["--limit", str(limit)]
        return run(cmd, check_rc=False)

    def log(self):
        return "\n".join(tail(self.logfile, 1000000))

    def metrics(self):
        """This host's /metrics as {"name{labels}": value} (the samples without labels by name)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


def redis_servers(port):
    return f'servers = ["127.0.0.1:{port}"]\n'


def host(tmp, name, addr, milter_port, domains=(), transport="", extra="", files=None):
    """A Postfix instance standing for one host: smtpd on addr (all its mail
    marked ORIGINATING for a submission host when `extra` says so), the smtp
    client bound to addr, transport_maps from `transport`."""
    root = os.path.join(tmp, name)
    (port,) = free_ports(1)
    return Postfix(root, port, milter_port, domains=domains, hostname=f"{name}.example.test", addr=addr,
                   extra=QUEUE + f"smtp_bind_address = {addr}\ntransport_maps = texthash:{root}/etc/transport\n" + extra,
                   files={"transport": transport, **(files or {})})


SUBMISSION = "milter_macro_daemon_name = ORIGINATING\n"


def maildir(pf, user="sink"):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(pf.root, "mail", user, sub)
        if os.path.isdir(d):
            out += [os.path.join(d, n) for n in sorted(os.listdir(d))]
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


class Cluster:
    """What a scenario started, stopped in reverse order by stop_all()."""

    def __init__(self):
        self.redis, self.serves, self.postfixes, self.checks = [], [], [], []

    def start_postfixes(self):
        for pf, chk in zip(self.postfixes, self.checks):
            pf.start(chk)
        self.checks = []
        if not wait_for(lambda: all(listening(pf.smtp_port, pf.addr) for pf in self.postfixes), 30):
            raise Fail("a Postfix smtpd did not start")

    def stop_all(self):
        """Stops everything; returns the failures of the stops (a serve that
        does not exit 0 on SIGTERM)."""
        errors = []
        for c in self.checks:
            if c.poll() is None:
                c.kill()
                c.wait()
        for pf in self.postfixes:
            try:
                pf.stop()
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                errors.append(f"postfix stop: {e}")
        for s in self.serves:
            try:
                s.stop()
            except Fail as e:
                errors.append(f"{s.name}: {e}")
        for r in self.redis:
            r.kill()
        return errors

    def logs(self):
        out = [(f"{s.name} log", s.logfile) for s in self.serves]
        out += [(f"{s.name} stderr", s.stderr) for s in self.serves]
        out += [(f"{os.path.basename(pf.root)} maillog", pf.maillog) for pf in self.postfixes]
        out += [(f"redis {os.path.basename(r.dir)}", r.logfile) for r in self.redis]
        return out


# ------------------------------------------------------------------ ledger --

# Clones items N times under names of the same length (the last 6
# characters replaced by a counter) and answers used_memory before and after;
# a second call with ARGV[1] = "undo" deletes the clones. ARGV: mode, N, then
# pairs (key, member): member "" clones the string key with its value and
# expiry, otherwise the member of the sorted set key with its score.
CLONE_LUA = """
local mode, n = ARGV[1], tonumber(ARGV[2])
local function used()
  return tonumber(string.match(redis.call('INFO', 'memory'), 'used_memory:(%d+)'))
end
local before = used()
for j = 3, #ARGV, 2 do
  local key, member = ARGV[j], ARGV[j + 1]
  local v, ttl, score
  if member == '' then v = redis.call('GET', key); ttl = redis.call('PTTL', key)
  else score = redis.call('ZSCORE', key, member) end
  for i = 1, n do
    local tailed = function(s) return string.sub(s, 1, #s - 6) .. string.format('%06d', i) end
    if member == '' then
      if mode == 'undo' then redis.call('DEL', tailed(key))
      elseif ttl > 0 then redis.call('SET', tailed(key), v, 'PX', ttl)
      else redis.call('SET', tailed(key), v) end
    else
      if mode == 'undo' then redis.call('ZREM', key, tailed(member))
      else redis.call('ZADD', key, score, tailed(member)) end
    end
  end
end
return {before, used()}
"""


def clone_cost(r, items, n=20000):
    """Bytes of Redis memory (used_memory) one more item costs: items is a
    list of (key, member) making up one item (member "" for a string key);
    measured by adding n clones, then removed again."""
    # used_memory is read by separate calls: during the script it also
    # counts the append-only file's buffer of the script's writes, which
    # Redis empties before it answers the next command.
    def used():
        return int(re.search(r"used_memory:(\d+)", r.cmd("INFO", "memory")).group(1))
    args = [x for kv in items for x in kv]
    before = used()
    r.cmd("EVAL", CLONE_LUA, "0", "add", n, *args, timeout=60)
    after = used()
    r.cmd("EVAL", CLONE_LUA, "0", "undo", n, *args, timeout=60)
    return (after - before) / n


def memory_report(r, check):
    """Prints MEMORY USAGE of every key of the run and, for each kind of
    item, what one more of it costs in a Redis holding 20,000 of them (the
    figures of docs/cluster.md)."""
    keys = []
    cursor = "0"
    while True:
        cursor, batch = r.cmd("SCAN", cursor, "COUNT", "1000")
        keys += batch
        if cursor == "0":
            break
    say(f"sizing: {len(keys)} keys under {PREFIX!r}")
    for k in sorted(keys):
        kind = r.cmd("TYPE", k)
        extra = ""
        if kind == "zset":
            extra = f" ({r.cmd('ZCARD', k)} members, {r.cmd('OBJECT', 'ENCODING', k)})"
        say(f"sizing:   {k[:70]:70} {kind:6} {r.cmd('MEMORY', 'USAGE', k, 'SAMPLES', '0')} bytes{extra}")
    check(any(k.startswith(PREFIX + "l:") for k in keys), "the ledger entry is a key of the shared Redis")

    def first(pattern):
        return next((k for k in sorted(keys) if re.match(pattern, k)), None)

    def member(key):
        m = r.cmd("ZRANGE", key, "0", "0")
        return m[0] if m else None
    kinds = []
    led = first(re.escape(PREFIX) + "l:")
    if led:
        kinds.append(("ledger entry (l: key and its lt index member)",
                      [(led, ""), (PREFIX + "lt", member(PREFIX + "lt"))]))
    cl = first(re.escape(PREFIX) + "cl:")
    if cl and member(PREFIX + "cx"):
        kinds.append(("correspondent (cx member and cl: member)",
                      [(PREFIX + "cx", member(PREFIX + "cx")), (cl, member(cl))]))
    for label, pattern in (("limit window record (counters: r:)", re.escape(PREFIX) + "counters:r:"),
                           ("counter (counters: n:)", re.escape(PREFIX) + "counters:n:"),
                           ("inbound fact record (facts: r:)", re.escape(PREFIX) + "facts:r:")):
        k = first(pattern)
        if k:
            kinds.append((label, [(k, "")]))
    for label, items in kinds:
        say(f"sizing: {label}: {clone_cost(r, items):.0f} bytes each (value {r.cmd('STRLEN', items[0][0]) if items[0][1] == '' else '-'} bytes)")


def scenario_ledger(binary, tmp, c, check):
    (rport,) = free_ports(1)
    redis = RedisProcess(os.path.join(tmp, "redis"), rport, ["appendonly yes", "appendfsync always"])
    c.redis.append(redis)
    sa = Serve(binary, tmp, "serve-a", redis_servers(rport))
    sb = Serve(binary, tmp, "serve-b", redis_servers(rport))
    c.serves += [sa, sb]
    B = host(tmp, "mx-b", ADDR_B, sb.milter_port, domains=("example.test",))
    # A cannot deliver to remote.test (its Postfix writes the DSN itself) and
    # sends everything for example.test, the DSN included, to the MX B.
    # (smtpd must accept the recipient, not reject it at RCPT: the error
    # transport makes the queue manager bounce it after acceptance)
    A = host(tmp, "submit-a", ADDR_A, sa.milter_port,
             extra=SUBMISSION + "relay_domains = remote.test\nsmtpd_reject_unlisted_recipient = no\n",
             transport="remote.test error:5.1.1 unknown user: \"someone\"\n"
                       f"example.test smtp:[{ADDR_B}]:{B.smtp_port}\n")
    c.postfixes += [A, B]
    c.checks = [pf.check_async() for pf in c.postfixes]
    redis.start()
    sa.start()
    sb.start()
    c.start_postfixes()
    say(f"redis 127.0.0.1:{rport}; A {ADDR_A}:{A.smtp_port} (serve {sa.milter_port}); "
        f"B {ADDR_B}:{B.smtp_port} (serve {sb.milter_port})")
    logs = c.logs()

    mid = f"cluster-{secrets.token_hex(6)}@example.test"
    out = swaks(A.smtp_port, "user@example.test", "someone@remote.test", server=ADDR_A, timeout=60,
                extra=["--header", f"Message-Id: <{mid}>", "--header", "Subject: cluster ledger"])
    check((reply_to(out, ".") or "").startswith("250"), "A accepts the submission (250)", logs)
    led = sb.ledger_show(mid)
    check(led.returncode == 0 and f"<{mid}>" in led.stdout,
          "B's configuration finds the ledger entry A wrote (backstop ledger show)", logs)

    def dsn_at_b():
        A.flush()
        for p in maildir(B):
            t = read(p)
            if mid in t and "Return-Path: <>" in t and "report-type=delivery-status" in t:
                return p
        return None
    got = wait_for(dsn_at_b, 60, 0.5)
    check(re.search(r"to=<someone@remote\.test>.*status=bounced", read(A.maillog)),
          "A's Postfix bounced someone@remote.test (its own DSN)", logs)
    check(got, f"A's DSN of <{mid}> is delivered at B", logs)
    judged = [line for line in sb.log().splitlines() if "role=inbound" in line and "kind=bounce" in line]
    check(judged and re.search(r" verdict=ours action=accept", judged[0])
          and "evidence=ledger:ours" in judged[0],
          f"B's serve judged it a bounce of ours by the ledger: {judged[:1]}", logs)

    forged_mid = f"never-sent-{secrets.token_hex(6)}@example.test"
    path = os.path.join(tmp, "forged.eml")
    with open(path, "w") as f:
        f.write(dsn(forged_mid, rcpt="user@example.test"))
    out = swaks(B.smtp_port, "<>", "user@example.test", server=ADDR_B, data=path, timeout=60)
    r = reply_to(out, ".") or ""
    check(r.startswith("550 5.7.1"), f"a forged DSN (Message-ID never sent) to B is refused: {r}", logs)
    check(re.search(r"kind=bounce verdict=not_ours action=reject", sb.log()),
          "B's serve logs it as not ours, rejected", logs)
    memory_report(redis, check)


# ------------------------------------------------------------------ limits --

SASL_USER, SASL_PASSWORD, SASL_REALM = "alice", "wonderland-7", "cluster.test"


def sasl_files(root):
    """Cyrus SASL for a private smtpd: PLAIN/LOGIN against a sasldb holding
    one user; returns the main.cf lines."""
    etc = os.path.join(root, "etc")
    sasl_dir = os.path.join(etc, "sasl")
    db = os.path.join(etc, "sasldb2")
    os.makedirs(sasl_dir, exist_ok=True)
    with open(os.path.join(sasl_dir, "smtpd.conf"), "w") as f:
        f.write(f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {db}\nmech_list: PLAIN LOGIN\n")
    p = subprocess.run(["saslpasswd2", "-f", db, "-c", "-p", "-u", SASL_REALM, SASL_USER],
                       input=SASL_PASSWORD, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise Fail(f"saslpasswd2 exited {p.returncode}: {p.stdout}")
    os.chown(db, pwd.getpwnam("postfix").pw_uid, -1)
    os.chmod(db, 0o640)
    return f"""\
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {sasl_dir}
smtpd_sasl_local_domain = {SASL_REALM}
smtpd_sasl_security_options = noanonymous
"""


def parallel_authenticated(targets, sessions, total):
    """`sessions` SMTP sessions, round-robin over targets [(addr, port)], each
    logged in as the SASL user, share `total` messages; returns (accepted,
    refused with 451 4.7.1 at MAIL, [anything else])."""
    lock = threading.Lock()
    state = {"left": total, "accepted": 0, "refused": 0, "other": []}

    def take():
        with lock:
            if state["left"] == 0:
                return None
            state["left"] -= 1
            return total - state["left"]

    def worker(addr, port):
        try:
            s = smtplib.SMTP(addr, port, timeout=60)
            s.ehlo("client.test")
            s.login(SASL_USER, SASL_PASSWORD)
            while (n := take()) is not None:
                code, msg = s.mail("alice@example.test")
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
                s.rcpt("x@sink.test")
                code, msg = s.data(f"From: alice@example.test\r\nTo: x@sink.test\r\n"
                                   f"Message-ID: <limit-{n}-{secrets.token_hex(4)}@example.test>\r\n"
                                   f"Subject: limit {n}\r\n\r\nhello\r\n".encode())
                with lock:
                    if code == 250:
                        state["accepted"] += 1
                    else:
                        state["other"].append(f"DATA {code} {msg!r}")
            s.quit()
        except (OSError, smtplib.SMTPException) as e:
            with lock:
                state["other"].append(f"session to {addr}: {e}")

    threads = [threading.Thread(target=worker, args=targets[i % len(targets)]) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return state["accepted"], state["refused"], state["other"]


def scenario_limits(binary, tmp, c, check):
    if not shutil.which("saslpasswd2"):
        raise Fail("saslpasswd2 is not installed (sasl2-bin; scripts/install-deps.sh)")
    (rport,) = free_ports(1)
    redis = RedisProcess(os.path.join(tmp, "redis"), rport)
    c.redis.append(redis)
    limits = """\
[limits]
[[limits.rule]]
name = "per-user"
scope = "sasl_user"
messages = "10/1h"
action = "tempfail"
"""
    sa = Serve(binary, tmp, "serve-a", redis_servers(rport), limits)
    sc = Serve(binary, tmp, "serve-c", redis_servers(rport), limits)
    c.serves += [sa, sc]
    for name, addr, serve in (("submit-a", ADDR_A, sa), ("submit-c", ADDR_C, sc)):
        root = os.path.join(tmp, name)
        os.makedirs(os.path.join(root, "etc"), exist_ok=True)
        c.postfixes.append(host(tmp, name, addr, serve.milter_port, domains=("sink.test",),
                                extra=sasl_files(root)))
    A, C = c.postfixes
    c.checks = [pf.check_async() for pf in c.postfixes]
    redis.start()
    sa.start()
    sc.start()
    c.start_postfixes()
    logs = c.logs()
    say(f"redis 127.0.0.1:{rport}; A {ADDR_A}:{A.smtp_port}, C {ADDR_C}:{C.smtp_port}")

    accepted, refused, other = parallel_authenticated([(ADDR_A, A.smtp_port), (ADDR_C, C.smtp_port)], 16, 40)
    check(accepted == 10 and refused == 30 and not other,
          f"16 sessions over A and C, 40 messages, 10/1h per SASL user: {accepted} accepted, "
          f"{refused} got 451 4.7.1, other {other[:3]}", logs)
    wait_for(lambda: len(maildir(A)) + len(maildir(C)) >= 10, 30)
    time.sleep(1)  # and no eleventh
    delivered = (len(maildir(A)), len(maildir(C)))
    check(sum(delivered) == 10, f"exactly 10 delivered, none lost (A {delivered[0]}, C {delivered[1]})", logs)
    trips = [len(s.log_lines(r"limit=per-user .*identity=alice")) for s in (sa, sc)]
    check(sum(trips) == 30, f"the serves logged 30 trips of the limit for alice (A {trips[0]}, C {trips[1]})", logs)
    auth = [len(s.log_lines(r"role=outbound .*message_id=")) for s in (sa, sc)]
    say(f"accepted by host: A {auth[0]}, C {auth[1]}")
    memory_report(redis, check)


# ---------------------------------------------------------- traffic driver --

class Traffic:
    """Mail flowing while the test breaks Redis: an outbound stream submitted
    through A (each message a ledger write) and an inbound stream of DSNs to
    B answering Message-IDs A acknowledged (each a ledger read). Every reply
    is recorded as (stream, start, end, Message-ID, code, text) with
    monotonic times; the stage (MAIL, RCPT, DATA or end of data) that
    answered first with anything but 2xx/3xx is the message's reply."""

    def __init__(self, A, B, tmp, pace=0.05):
        self.A, self.B, self.tmp, self.pace = A, B, tmp, pace
        self.lock = threading.Lock()
        self.records = []
        self.acked = []  # outbound Message-IDs answered 250, in order
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.outbound), threading.Thread(target=self.inbound)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def one(self, stream, addr, port, frm, to, body, mid):
        t0 = time.monotonic()
        code, text = 0, ""
        try:
            with smtplib.SMTP(addr, port, timeout=30, local_hostname="client.test") as s:
                for step in (lambda: s.mail(frm), lambda: s.rcpt(to), lambda: s.data(body)):
                    code, msg = step()
                    text = msg.decode("utf-8", "replace")
                    if code >= 400:
                        break
        except smtplib.SMTPResponseException as e:
            code, text = e.smtp_code, str(e.smtp_error)
        except (OSError, smtplib.SMTPException) as e:
            code, text = -1, f"session: {e}"
        rec = (stream, t0, time.monotonic(), mid, code, text)
        with self.lock:
            self.records.append(rec)
            if stream == "out" and code == 250:
                self.acked.append((rec[2], mid))
        return rec

    def outbound(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            mid = f"flow-{n}-{secrets.token_hex(4)}@example.test"
            body = (f"From: user@example.test\r\nTo: someone@remote.test\r\nMessage-ID: <{mid}>\r\n"
                    f"Subject: flow {n}\r\n\r\nhello\r\n").encode()
            self.one("out", ADDR_A, self.A.smtp_port, "user@example.test", "someone@remote.test", body, mid)
            time.sleep(self.pace)

    def inbound(self):
        n = 0
        while not self.stop.is_set():
            with self.lock:
                target = self.acked[n % len(self.acked)][1] if self.acked else None
            if target is None:
                time.sleep(0.1)
                continue
            n += 1
            # the shape of Postfix's DSN (pfharness.dsn), answering a message A sent
            body = dsn(target, rcpt="user@example.test").replace("alice@example.test", "user@example.test")
            self.one("in", ADDR_B, self.B.smtp_port, "", "user@example.test", body.encode(), target)
            time.sleep(self.pace)

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def wait_acked(self, n, timeout):
        return wait_for(lambda: len(self.acked) >= n, timeout)


def traffic_cluster(binary, tmp, c, redis_toml):
    """A (submission, relays remote.test to discard) and B (MX for
    example.test) with their serves, sharing the Redis that redis_toml names."""
    sa = Serve(binary, tmp, "serve-a", redis_toml)
    sb = Serve(binary, tmp, "serve-b", redis_toml)
    c.serves += [sa, sb]
    A = host(tmp, "submit-a", ADDR_A, sa.milter_port, extra=SUBMISSION,
             transport="remote.test discard:\n")
    B = host(tmp, "mx-b", ADDR_B, sb.milter_port, domains=("example.test",))
    c.postfixes += [A, B]
    c.checks = [pf.check_async() for pf in c.postfixes]
    return sa, sb, A, B


def codes(records, stream=None, since=None, until=None):
    return [r for r in records if (stream is None or r[0] == stream)
            and (since is None or r[1] >= since) and (until is None or r[2] <= until)]


def describe(records):
    out = {}
    for r in records:
        k = f"{r[0]}:{r[4]}"
        out[k] = out.get(k, 0) + 1
    return out


# -------------------------------------------------------------- redis-kill --

def scenario_redis_kill(binary, tmp, c, check):
    (rport,) = free_ports(1)
    redis = RedisProcess(os.path.join(tmp, "redis"), rport, ["appendonly yes", "appendfsync always"])
    c.redis.append(redis)
    sa, sb, A, B = traffic_cluster(binary, tmp, c, redis_servers(rport))
    redis.start()
    sa.start()
    sb.start()
    c.start_postfixes()
    logs = c.logs()
    pids = (sa.proc.pid, sb.proc.pid)
    traffic = Traffic(A, B, tmp)
    traffic.start()
    try:
        if not check(traffic.wait_acked(20, 90), "mail flows through A and B with Redis up", logs):
            return
        time.sleep(1)
        t_kill = time.monotonic()
        redis.kill()
        say(f"SIGKILLed redis-server (pid gone); {len(traffic.acked)} outbound messages acknowledged so far")
        before = [mid for t, mid in traffic.acked if t < t_kill]
        time.sleep(5)
        t_restart = time.monotonic()
        redis.start()
        say("redis-server restarted on the same port, same append-only file")

        def flowing():
            recs = codes(traffic.snapshot(), since=t_restart)
            return [r for r in recs if r[0] == "out" and r[4] == 250] and \
                [r for r in recs if r[0] == "in" and r[4] == 250]
        flowing_again = wait_for(flowing, 60, 0.1)
        time.sleep(2)
    finally:
        traffic.finish()
    recs = traffic.snapshot()
    down = codes(recs, since=t_kill + 0.2, until=t_restart)
    check(all(r[4] != -1 for r in recs), "every SMTP session got replies (no broken session)", logs)
    fivexx = [r for r in recs if 500 <= r[4] < 600]
    check(not fivexx, f"no 5xx in {len(recs)} messages ({describe(recs)}): {fivexx[:3]}", logs)
    check(down and all(400 <= r[4] < 500 for r in down),
          f"while Redis is down every message gets 4xx ({describe(down)})", logs)
    if down:
        say(f"  e.g. {down[0][0]}: {down[0][4]} {down[0][5]}")
    first = {s: min((r[2] for r in codes(recs, s, since=t_restart) if r[4] == 250), default=None)
             for s in ("out", "in")}
    check(flowing_again, "after the restart mail is accepted again on both hosts: first 250 "
          + ", ".join(f"{s} {t - t_restart:.1f} s" for s, t in first.items() if t), logs)
    check(all(s.proc.poll() is None for s in (sa, sb)) and pids == (sa.proc.pid, sb.proc.pid),
          "without a backstop restart (same serve processes)", logs)
    judged = sb.log_lines(r"role=inbound .*kind=bounce ")
    check(judged and all(" verdict=ours action=accept" in line for line in judged),
          f"B judged every DSN it answered ours ({len(judged)} judged; the rest were deferred before judging)",
          logs)
    listing = sa.ledger_show(limit=100000).stdout
    missing = [mid for mid in before if f"<{mid}>" not in listing]
    check(before and not missing, f"all {len(before)} Message-IDs acknowledged before the kill are in the ledger "
          f"after it (missing {missing[:3]})", logs)
    # one of them bounced now, after the restart: B still knows it as ours
    path = os.path.join(tmp, "late-dsn.eml")
    with open(path, "w") as f:
        f.write(dsn(before[0], rcpt="user@example.test"))
    r = reply_to(swaks(B.smtp_port, "<>", "user@example.test", server=ADDR_B, data=path, timeout=60), ".") or ""
    check(r.startswith("250"), f"a DSN of the first message, sent after the restart, is accepted by B: {r}", logs)
    # the outage and the recovery as the metrics show them
    for s in (sa, sb):
        m = s.metrics()
        failed, ok = m.get('backstop_redis_round_trips_total{result="failed"}', 0), \
            m.get('backstop_redis_round_trips_total{result="ok"}', 0)
        refused = m.get('backstop_redis_connects_total{result="failed"}', 0)
        check(failed >= 1 and refused >= 1 and ok > failed and m.get("backstop_redis_commands_total", 0) >= ok
              and m.get("backstop_redis_round_trip_seconds_count", 0) >= ok,
              f"{s.name}'s metrics show the outage: {ok:.0f} round trips ok, {failed:.0f} failed, "
              f"{refused:.0f} failed connection attempts", logs)


# ---------------------------------------------------------------- failover --

MASTER_NAME = "bsm"


def scenario_failover(binary, tmp, c, check):
    pm, pr, *sports = free_ports(5)
    master = RedisProcess(os.path.join(tmp, "redis-m"), pm)
    replica = RedisProcess(os.path.join(tmp, "redis-r"), pr, [f"replicaof 127.0.0.1 {pm}"])
    sentinels = [RedisProcess(os.path.join(tmp, f"sentinel-{i}"), p, [
        f"sentinel monitor {MASTER_NAME} 127.0.0.1 {pm} 2",
        f"sentinel down-after-milliseconds {MASTER_NAME} 1000",
        f"sentinel failover-timeout {MASTER_NAME} 10000",
        f"sentinel parallel-syncs {MASTER_NAME} 1"], sentinel=True) for i, p in enumerate(sports)]
    c.redis += [master, replica, *sentinels]
    toml = (f'sentinel_master = "{MASTER_NAME}"\n'
            f'sentinels = [{", ".join(f"{chr(34)}127.0.0.1:{p}{chr(34)}" for p in sports)}]\n')
    sa, sb, A, B = traffic_cluster(binary, tmp, c, toml)
    master.start()
    replica.start()
    for s in sentinels:
        s.start()
    logs = c.logs()

    def ready():
        try:
            info = replica.cmd("INFO", "replication")
            return "master_link_status:up" in info and all(
                len(s.cmd("SENTINEL", "replicas", MASTER_NAME)) == 1
                and len(s.cmd("SENTINEL", "sentinels", MASTER_NAME)) == 2 for s in sentinels)
        except (OSError, TypeError):
            return False
    if not check(wait_for(ready, 60, 0.5), "the replica is in sync and the three sentinels know it and each other",
                 logs):
        return
    sa.start()
    sb.start()
    c.start_postfixes()
    traffic = Traffic(A, B, tmp)
    traffic.start()
    t_switch = None
    try:
        if not check(traffic.wait_acked(20, 90), "mail flows through A and B (Redis under Sentinel)", logs):
            return
        time.sleep(1)
        t_kill = time.monotonic()
        master.kill()
        say("SIGKILLed the master")

        def switched():
            try:
                return sentinels[0].cmd("SENTINEL", "get-master-addr-by-name", MASTER_NAME)[1] == str(pr)
            except (OSError, TypeError, IndexError):
                return False
        if wait_for(switched, 60, 0.05):
            t_switch = time.monotonic()
            say(f"the sentinels promoted the replica {t_switch - t_kill:.2f} s after the kill")

        def both_follow():
            recs = codes(traffic.snapshot(), since=t_kill)
            return all([r for r in recs if r[0] == s and r[4] == 250] for s in ("out", "in"))
        followed = wait_for(both_follow, 60, 0.05)
        time.sleep(3)
    finally:
        traffic.finish()
    recs = traffic.snapshot()
    after = codes(recs, since=t_kill)
    fivexx = [r for r in recs if 500 <= r[4] < 600]
    check(not fivexx, f"no 5xx in {len(recs)} messages ({describe(recs)}): {fivexx[:3]}", logs)
    check(t_switch is not None, "Sentinel fails over to the replica", logs)
    check(followed, "both serves follow the new master (mail accepted again on A and B)", logs)
    firsts = {s: min((r[2] for r in after if r[0] == s and r[4] == 250), default=None) for s in ("out", "in")}
    if t_switch and all(firsts.values()):
        say("failover: sentinel switch %.2f s after the kill; first 250 after it: outbound %.2f s, "
            "inbound %.2f s (backstop's lag behind Sentinel: %.2f s)" % (
                t_switch - t_kill, firsts["out"] - t_kill, firsts["in"] - t_kill,
                max(firsts.values()) - t_switch))
        check(max(firsts.values()) - t_switch < 10, "backstop follows within 10 s of the switch", logs)
    during = [r for r in after if r[4] != 250]
    say(f"during the failover: {describe(during)}")
    tail_recs = [r for r in recs if r[1] > max(firsts.values() or [0]) + 0.5] if all(firsts.values()) else []
    check(tail_recs and all(r[4] == 250 for r in tail_recs),
          f"after it every message is accepted ({describe(tail_recs)})", logs)
    mids = [r[3] for r in tail_recs if r[0] == "out"]
    check(mids and all(replica.cmd("EXISTS", f"{PREFIX}l:{m}") == 1 for m in mids),
          f"the {len(mids)} ledger entries written after the failover are on the promoted replica", logs)
    # Replication is asynchronous: what the old master acknowledged just
    # before its death may be missing. Reported, not asserted.
    before = [mid for t, mid in traffic.acked if t < t_kill]
    kept = sum(1 for m in before if replica.cmd("EXISTS", f"{PREFIX}l:{m}") == 1)
    say(f"ledger entries acknowledged before the kill found on the new master: {kept} of {len(before)}")


SCENARIOS = {"ledger": scenario_ledger, "limits": scenario_limits, "redis-kill": scenario_redis_kill,
             "failover": scenario_failover}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        print(__doc__)
        return 2
    binary, name = os.path.abspath(sys.argv[1]), sys.argv[2]
    if os.geteuid() != 0:
        print("FAIL: needs root (private Postfix instances)")
        return 1
    for tool in ("postfix", "swaks", "redis-server"):
        if not shutil.which(tool):
            print(f"FAIL: {tool} not installed (scripts/install-deps.sh)")
            return 1

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    tmp = tempfile.mkdtemp(prefix=f"backstop-cluster-{name}.")
    os.chmod(tmp, 0o755)
    say(f"scenario {name}; work dir {tmp}")
    check = Checks()
    c = Cluster()
    try:
        SCENARIOS[name](binary, tmp, c, check)
    except Fail as e:
        check.failures.append(str(e))
        say(f"FAIL {e}")
    except Exception as e:  # noqa: BLE001 - report and fail, cleanup below
        import traceback
        traceback.print_exc()
        check.failures.append(f"exception: {e}")
    finally:
        errors = c.stop_all()
        for e in errors:
            say(f"FAIL {e}")
        check.failures += errors
        if check.failures:
            for label, path in c.logs():
                print(f"    --- {label}, last lines:")
                for line in tail(path, 25):
                    print(f"    | {line}")
        if KEEP or check.failures:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if check.failures:
        say(f"FAILED: {len(check.failures)} check(s)")
        return 1
    say("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
