"""Shared parts of the end-to-end tests that drive a private Postfix instance
and `backstop serve` on loopback (tests/*_e2e): process helpers, the Postfix
instance (own config_directory, queue and maillog; stopped by PID) and the
swaks driver. Imported by the test scripts; not a test itself.
"""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import time

T0 = time.monotonic()

# The tests start `backstop serve` as root, and serve will not keep root: it
# binds, then drops to daemon.run_as. Every configuration the tests write
# starts with DAEMON_TOML, and whatever the dropped daemon reads after the
# drop (its configuration, on SIGHUP) must be readable by RUN_AS: the work
# directories are 0755 and files are created with umask 022.
RUN_AS = "nobody"
DAEMON_TOML = f'[daemon]\nrun_as = "{RUN_AS}"\n'
os.umask(0o022)


class Interrupted(Exception):
    """SIGTERM (ctest's timeout) or SIGINT reached the test: it still stops
    what it started (its `finally`), then fails."""


def _interrupt(signum, _frame):
    raise Interrupted(f"signal {signum}")


def stop_on_signals():
    """Turns SIGTERM and SIGINT into Interrupted, so that a test killed by
    ctest's timeout still stops its Postfix and backstop processes."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)


def ignore_signals():
    """For the cleanup itself: a second SIGTERM must not cut it short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def missing_prerequisites(*programs):
    """Why this test cannot run here (not root, a program not installed), or
    None. The tests fail (never skip) on it: CI installs everything."""
    if os.geteuid() != 0:
        return "needs root (private Postfix instances, serve's privilege drop)"
    missing = [p for p in programs if not shutil.which(p)]
    if missing:
        return f"needs {', '.join(missing)} (scripts/install-deps.sh installs them)"
    return None


def serve_toml(milter_port, metrics_port, state, logfile, outbound_src=None, domains=("example.test",)):
    """The base configuration of a single-host `backstop serve` under test:
    DAEMON_TOML, the milter on loopback (2 threads), no policy service,
    metrics on loopback, LMDB state in `state`, BATV off (the ledger alone
    tells our bounces), no ledger warm-up, the log flushed at once. Mail from
    `outbound_src` (an address such as 127.0.0.2) is outbound."""
    local = ", ".join(f'"{d}"' for d in domains)
    outbound = f'[outbound]\nnetworks = ["{outbound_src}/32"]\n' if outbound_src else ""
    return DAEMON_TOML + f"""\
[milter]
listen = "inet:127.0.0.1:{milter_port}"
threads = 2
[policy]
listen = ""
[metrics]
listen = "127.0.0.1:{metrics_port}"
[state]
dir = "{state}"
[domains]
local = [{local}]
{outbound}[batv]
mode = "off"
sign = false
[ledger]
warmup_days = 0
[log]
target = "{logfile}"
flush_ms = 0
"""


def http_get(port, path, host="127.0.0.1", timeout=5):
    """(status, body) of GET path, or (0, error text) when nothing answers."""
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        c.request("GET", path)
        r = c.getresponse()
        out = (r.status, r.read().decode(errors="replace"))
        c.close()
        return out
    except OSError as e:
        return 0, str(e)


class Fail(Exception):
    pass


def say(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Checks:
    """check(cond, what, logs=()): prints ok/FAIL, records a failure and, for
    one, the last lines of each (label, path) in logs; returns cond. The
    recorded failures are in .failures (scripts may append their own)."""

    def __init__(self):
        self.failures = []

    def __call__(self, cond, what, logs=()):
        say(("ok   " if cond else "FAIL ") + what)
        if not cond:
            self.failures.append(what)
            for label, path in logs:
                print(f"    --- {label}, last lines:")
                for line in tail(path, 30):
                    print(f"    | {line}")
        return cond


def tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError as e:
        return [f"({path}: {e})"]


def free_ports(n, kind=socket.SOCK_STREAM):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def free_port_both():
    """A port free for both TCP and UDP (rbldnsd binds UDP; dig uses UDP)."""
    for _ in range(50):
        (p,) = free_ports(1, socket.SOCK_DGRAM)
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            t.close()
    raise Fail("no free port")


def listening(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def run(cmd, check_rc=True):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=60)
    if check_rc and p.returncode != 0:
        raise Fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}")
    return p


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


MASTER_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A Postfix instance under ROOT (etc/, spool/, data/, mail/, maillog) with an
    smtpd on addr:smtp_port.

    domains: the virtual(8) mailbox domains, delivered under ROOT/mail through
        virtual_mailbox_maps = mailbox_maps; none: no virtual(8) settings at all.
    hostname: myhostname (mydomain is what follows its first dot); by default
        mx.<first domain>.
    milter_port: backstop's milter on 127.0.0.1 for every smtpd; None: no milter.
    listeners: further master.cf service lines, after the smtpd on smtp_port.
    files: {name: text} written to ROOT/etc (maps named in extra or mailbox_maps).
    extra: appended to main.cf last.
    addr: the loopback address of the smtpd (its master.cf line), so several
        instances can stand for several hosts (127.0.0.2, 127.0.0.3...).
        inet_interfaces stays 127.0.0.1, the one address lo has: Postfix
        refuses to start with an address no interface holds, while Linux
        accepts a bind to any of 127.0.0.0/8.
    """

    def __init__(self, root, smtp_port, milter_port, domains=("example.test",), extra="",
                 hostname=None, mailbox_maps="static:sink/", listeners=(), files=None, addr="127.0.0.1"):
        import pwd
        self.root, self.etc = root, os.path.join(root, "etc")
        self.maillog = os.path.join(root, "maillog")
        self.addr, self.smtp_port = addr, smtp_port
        for d in ("etc", "spool", "data", "mail"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        hostname = hostname or f"mx.{domains[0]}"
        virtual = f"""\
virtual_mailbox_domains = {" ".join(domains)}
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = {mailbox_maps}
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
""" if domains else ""
        milter = f"""\
smtpd_milters = inet:127.0.0.1:{milter_port}
milter_default_action = tempfail
milter_protocol = 6
milter_connect_timeout = 5s
milter_command_timeout = 10s
milter_content_timeout = 30s
""" if milter_port else ""
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(f"""\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = {hostname}
mydomain = {hostname.split(".", 1)[1]}
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtputf8_enable = no
biff = no
{virtual}default_transport = discard
relay_transport = discard
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_rate_limit = 0
{milter}{extra}""")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(f"{addr}:{smtp_port} inet n - n - - smtpd\n"
                    + "".join(line + "\n" for line in listeners) + MASTER_SERVICES)
        for name, text in (files or {}).items():
            with open(os.path.join(self.etc, name), "w") as f:
                f.write(text)
        os.chown(os.path.join(root, "data"), pwd.getpwnam("postfix").pw_uid, -1)
        os.chown(os.path.join(root, "mail"), 65534, 65534)

    def check_async(self):
        """`postfix check`, which creates the queue directories; slow, so it runs
        while the test starts other things. Pass it to start()."""
        return subprocess.Popen(["postfix", "-c", self.etc, "check"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def start(self, check):
        out, _ = check.communicate(timeout=120)
        if check.returncode != 0:
            raise Fail(f"postfix check exited {check.returncode}:\n{out}")
        # `postfix check` just ran: skip postfix-script's second (slow) integrity check
        open(os.path.join(self.root, "spool", "quick-start"), "w").close()
        run(["postfix", "-c", self.etc, "start"])

    def flush(self):
        """Asks the queue manager to try every deferred message now."""
        run(["postqueue", "-c", self.etc, "-f"], check_rc=False)

    def queue(self):
        return run(["postqueue", "-c", self.etc, "-p"], check_rc=False).stdout

    def master_pid(self):
        try:
            with open(os.path.join(self.root, "spool", "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        pid = self.master_pid()
        subprocess.run(["postfix", "-c", self.etc, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        if pid and not wait_for(lambda: not pid_alive(pid), 10):
            os.kill(pid, signal.SIGKILL)


class BackstopServe:
    """`backstop serve --config CONFIG` with its log in TMP/backstop.log and its
    stderr in TMP/backstop.stderr; started and stopped (SIGTERM, by PID) by the
    test. Subclasses write the configuration in __init__ before start(),
    beginning with DAEMON_TOML (serve runs as RUN_AS after binding).
    extra_ports: further 127.0.0.1 ports (e.g. /metrics) start() waits for.
    prefix: a command line the daemon is started under, which must exec it
    (keeping its PID), e.g. ("prlimit", "--nofile=256:256", "--")."""

    def __init__(self, binary, tmp, milter_port, extra_ports=(), prefix=()):
        self.binary, self.tmp = binary, tmp
        self.prefix = tuple(prefix)
        self.state = os.path.join(tmp, "state")
        self.config = os.path.join(tmp, "backstop.toml")
        self.logfile = os.path.join(tmp, "backstop.log")
        self.stderr = os.path.join(tmp, "backstop.stderr")
        self.milter_port = milter_port
        self.ports = (milter_port, *extra_ports)
        self.proc = None

    def start(self, timeout=90):
        """Raises Fail unless the process runs and all its ports listen within timeout s."""
        err = open(self.stderr, "a")
        env = dict(os.environ)
        # an ASan report must fail the test, and leaks show up at SIGTERM
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        self.proc = subprocess.Popen([*self.prefix, self.binary, "serve", "--config", self.config],
                                     stdout=err, stderr=err, stdin=subprocess.DEVNULL, env=env)
        err.close()

        def up():
            return all(listening(p) for p in self.ports)
        wait_for(lambda: self.proc.poll() is not None or up(), timeout)
        if self.proc.poll() is not None or not up():
            raise Fail(f"backstop serve did not start (exit {self.proc.poll()}; "
                       f"not listening: {[p for p in self.ports if not listening(p)]})")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Fail("backstop did not exit on SIGTERM")
            if rc != 0:
                raise Fail(f"backstop exited {rc} on SIGTERM")

    def log_lines(self, pattern):
        rx = re.compile(pattern)
        return [line for line in tail(self.logfile, 1000000) if rx.search(line)]


def dsn(mid, rcpt="alice@example.test", subject="a test"):
    """A bounce, to `rcpt`, of the message with Message-ID `mid` (sent by
    alice@example.test to bob@remote.example) in the format Postfix's
    bounce(8) writes: multipart/report with the original's headers. CRLF
    line ends, for swaks --data."""
    return f"""\
From: MAILER-DAEMON@mx.remote.example (Mail Delivery System)
To: {rcpt}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="B1.{mid}"
Message-Id: <dsn.{mid}>
Date: Sun,  6 Dec 2026 04:00:00 +0000 (UTC)

This is a MIME-encapsulated message.

--B1.{mid}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.remote.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<bob@remote.example>: unknown user: "bob"

--B1.{mid}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.example
Arrival-Date: Sun,  6 Dec 2026 03:59:59 +0000 (UTC)

Final-Recipient: rfc822; bob@remote.example
Original-Recipient: rfc822;bob@remote.example
Action: failed
Status: 5.1.1
Diagnostic-Code: X-Postfix; unknown user: "bob"

--B1.{mid}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: alice@example.test
To: bob@remote.example
Subject: {subject}
Message-Id: <{mid}>
Date: Sun,  6 Dec 2026 03:59:58 +0000

--B1.{mid}--
""".replace("\n", "\r\n")


def swaks(port, frm, to, src=None, data=None, extra=(), timeout=30, server="127.0.0.1"):
    """swaks's output (stdout and stderr) for one message to server:port.
    src: the client's source address (any 127/8 on Linux), the kernel's choice
    when None; data: a message file; extra: further swaks arguments; timeout:
    swaks's own --timeout, the whole run is given 60 s more."""
    cmd = ["swaks", "--server", f"{server}:{port}"]
    if src is not None:
        cmd += ["--local-interface", src]
    cmd += ["--helo", "client.test", "--from", frm, "--to", to, "--timeout", str(timeout),
            "--suppress-data"]
    if data is not None:
        cmd += ["--data", "@" + data]
    cmd += list(extra)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=timeout + 60)
    return p.stdout


def replies(out):
    """[(command, first line of its reply)] from swaks output (--suppress-data), in
    order. command: the upper-cased first word sent ('MAIL', 'RCPT', 'DATA', ...),
    'CONNECT' for the greeting, '.' for the end of data (the reply after 354)."""
    pairs = []
    cmd, waiting = "CONNECT", True
    for line in out.splitlines():
        m = re.match(r"^ -> (\S+)", line)
        if m and not re.match(r"^ -> \d+ lines sent", line):
            cmd, waiting = m.group(1).upper(), True
            continue
        m = re.match(r"^(?:<-|<\*\*) +(\d{3})[ -](.*)", line)
        if m and waiting:
            pairs.append((cmd, m.group(1) + " " + m.group(2)))
            waiting = False
            if m.group(1) == "354":
                cmd, waiting = ".", True
    return pairs


def reply_to(out, verb):
    """First line of the server's reply to the first command starting with verb
    ('MAIL', 'RCPT', 'DATA'), or to the end of data ('.': the reply after 354)."""
    for c, r in replies(out):
        if c == verb or (verb != "." and c.startswith(verb)):
            return r
    return None


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies, even by
    SIGKILL (the test's own cleanup covers every other way out)."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def resp(host, port, *args, timeout=2.0):
    """One Redis command over a fresh connection: the reply as a Python value
    (str for simple and bulk strings, int, list, None); an error reply is
    returned as RedisError, not raised. Raises OSError when the server does
    not answer."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        out = f"*{len(args)}\r\n".encode()
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out += f"${len(b)}\r\n".encode() + b + b"\r\n"
        s.sendall(out)
        f = s.makefile("rb")

        def value():
            line = f.readline()
            if not line.endswith(b"\r\n"):
                raise OSError("redis: connection closed")
            kind, rest = line[:1], line[1:-2].decode("utf-8", "replace")
            if kind == b"+":
                return rest
            if kind == b"-":
                return RedisError(rest)
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)
                return data[:-2].decode("utf-8", "replace")
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [value() for _ in range(n)]
            raise OSError(f"redis: unexpected reply {line!r}")
        return value()


class RedisError(str):
    """An error reply of resp()."""


class RedisProcess:
    """A private redis-server, or with sentinel=True a redis-sentinel, on
    127.0.0.1:port, its configuration (DIR/redis.conf), data and log
    (DIR/redis.log) under DIR. The configuration starts with no persistence
    (`save ""`, `appendonly no`); conf lines come after and override it.
    start() again after kill() reuses the configuration and the data, as a
    restarted server would. Stopped by PID only; the process also dies with
    the test process."""

    def __init__(self, directory, port, conf=(), sentinel=False):
        self.dir, self.port, self.sentinel = directory, port, sentinel
        os.makedirs(directory, exist_ok=True)
        self.config = os.path.join(directory, "redis.conf")
        self.logfile = os.path.join(directory, "redis.log")
        base = [f"port {port}", "bind 127.0.0.1", "protected-mode no", "daemonize no",
                f"dir {directory}", f"logfile {self.logfile}"]
        if not sentinel:
            base += ['save ""', "appendonly no"]
        with open(self.config, "w") as f:
            f.write("".join(line + "\n" for line in [*base, *conf]))
        self.proc = None

    def start(self, timeout=20):
        """Raises Fail unless the server answers PING within timeout s."""
        if self.sentinel:
            binary = shutil_which("redis-sentinel")
            cmd = [binary, self.config] if binary else [shutil_which("redis-server"), self.config, "--sentinel"]
        else:
            cmd = [shutil_which("redis-server"), self.config]
        if not cmd[0]:
            raise Fail("redis-server is not installed (scripts/install-deps.sh)")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        if not wait_for(lambda: self.proc.poll() is not None or self.ping(), timeout, 0.05) or not self.ping():
            raise Fail(f"redis {'sentinel ' if self.sentinel else ''}on port {self.port} did not start "
                       f"(exit {self.proc.poll()}):\n" + "\n".join(tail(self.logfile, 15)))

    def ping(self):
        try:
            return self.cmd("PING") == "PONG"
        except OSError:
            return False

    def cmd(self, *args, timeout=2.0):
        return resp("127.0.0.1", self.port, *args, timeout=timeout)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def kill(self):
        """SIGKILL, and waits for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    stop = kill  # test data only: nothing to save at the end


def shutil_which(name):
    import shutil
    return shutil.which(name)
