"""Shared parts of the end-to-end tests that drive a private Postfix instance
and `backstop serve` on loopback (tests/*_e2e): process helpers, the Postfix
instance (own config_directory, queue and maillog; stopped by PID) and the
swaks driver. Imported by the test scripts; not a test itself.
"""
import os
import re
import signal
import socket
import subprocess
import time

T0 = time.monotonic()


class Fail(Exception):
    pass


def say(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


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


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
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
    def __init__(self, root, smtp_port, milter_port, domains=("example.test",), extra=""):
        import pwd
        self.root, self.etc = root, os.path.join(root, "etc")
        self.maillog = os.path.join(root, "maillog")
        for d in ("etc", "spool", "data", "mail"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(f"""\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.{domains[0]}
mydomain = {domains[0]}
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
virtual_mailbox_domains = {" ".join(domains)}
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = static:sink/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
default_transport = discard
relay_transport = discard
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_rate_limit = 0
smtpd_milters = inet:127.0.0.1:{milter_port}
milter_default_action = tempfail
milter_protocol = 6
milter_connect_timeout = 5s
milter_command_timeout = 10s
milter_content_timeout = 30s
{extra}""")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(f"127.0.0.1:{smtp_port} inet n - n - - smtpd\n" + MASTER_SERVICES)
        os.chown(os.path.join(root, "data"), pwd.getpwnam("postfix").pw_uid, -1)
        os.chown(os.path.join(root, "mail"), 65534, 65534)

    def check_async(self):
        return subprocess.Popen(["postfix", "-c", self.etc, "check"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def start(self, check):
        out, _ = check.communicate(timeout=120)
        if check.returncode != 0:
            raise Fail(f"postfix check exited {check.returncode}:\n{out}")
        open(os.path.join(self.root, "spool", "quick-start"), "w").close()
        run(["postfix", "-c", self.etc, "start"])

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
    test. Subclasses write the configuration in __init__ before start()."""

    def __init__(self, binary, tmp, milter_port):
        self.binary, self.tmp = binary, tmp
        self.state = os.path.join(tmp, "state")
        self.config = os.path.join(tmp, "backstop.toml")
        self.logfile = os.path.join(tmp, "backstop.log")
        self.stderr = os.path.join(tmp, "backstop.stderr")
        self.milter_port = milter_port
        self.proc = None

    def start(self):
        err = open(self.stderr, "a")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        self.proc = subprocess.Popen([self.binary, "serve", "--config", self.config],
                                     stdout=err, stderr=err, stdin=subprocess.DEVNULL, env=env)
        err.close()
        wait_for(lambda: self.proc.poll() is not None or listening(self.milter_port), 90)
        if self.proc.poll() is not None or not listening(self.milter_port):
            raise Fail(f"backstop serve did not start (exit {self.proc.poll()})")

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


def swaks(port, frm, to, src, data=None):
    cmd = ["swaks", "--server", f"127.0.0.1:{port}", "--local-interface", src,
           "--helo", "client.test", "--from", frm, "--to", to, "--timeout", "30",
           "--suppress-data"]
    if data is not None:
        cmd += ["--data", "@" + data]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=90)
    return p.stdout


def reply_to(out, verb):
    """First line of the server's reply to the first command starting with verb
    ('MAIL', 'RCPT', 'DATA'), or to the end of data ('.': the reply after 354)."""
    replies = []  # (command, first reply line)
    cmd, waiting = "CONNECT", True
    for line in out.splitlines():
        m = re.match(r"^ -> (\S+)", line)
        if m and not re.match(r"^ -> \d+ lines sent", line):
            cmd, waiting = m.group(1).upper(), True
            continue
        m = re.match(r"^(?:<-|<\*\*) +(\d{3})[ -](.*)", line)
        if m and waiting:
            replies.append((cmd, m.group(1) + " " + m.group(2)))
            waiting = False
            if m.group(1) == "354":
                cmd, waiting = ".", True
    for c, r in replies:
        if c == verb or (verb != "." and c.startswith(verb)):
            return r
    return None


