#!/usr/bin/env python3
"""The trap DNSBL's web page in a real browser (issue 19 acceptance).

usage: run_dnsbl_web_e2e.py BACKSTOP_BINARY SHARED_DIR

All on loopback with free high ports, under a private temporary directory
(kept when BACKSTOP_E2E_KEEP=1):

  Postfix   smtpd on 127.0.0.1:SMTP, milter = backstop; trap.test is a trap
            domain delivered to a Maildir.
  backstop  serve: the milter in trap role, dnsbl.web.listen on 127.0.0.1:WEB.
  rbldnsd   serves the zone `backstop dnsbl export` writes, queried with dig.
  Chromium  headless (Debian's `chromium`), driven over the DevTools protocol
            (python3-websocket), with a private profile.

Steps:
  1  a real DSN (sisimai corpus, its recipient replaced by the trap address)
     from 127.0.0.5 to someone@trap.test through Postfix is trapped:
     127.0.0.5 is listed;
  2  Chromium opens /lookup/127.0.0.5: the state is "listed", the evidence
     headers are shown (the DSN's Subject and Message-ID), and neither the
     trap address nor the trap domain appears anywhere in the page;
  3  Chromium fills in and submits the delisting form: the answer page says
     delisted (the browser's own POST: Origin, token, form encoding);
  4  `dnsbl export`: the same rbldnsd answers NXDOMAIN for 127.0.0.5 (dig);
  5  the same DSN again from 127.0.0.5: listed again, for 56 days instead of
     28 (JSON lookup), and rbldnsd answers 127.0.0.2 again after an export;
  6  hostile headers: a DSN from 127.0.0.7 whose headers carry script tags,
     attribute breakers, event handlers, an encoded-word script, broken
     UTF-8 and a 60 KB header: in Chromium no dialog opens, no script runs
     (document.title and a window flag untouched), the DOM holds no element
     the page does not write itself (no script, img, svg, iframe...), and the
     hostile text is shown as text; on a 375 px phone screen the page does
     not scroll sideways.
Exit status: 0 passed, 1 a check failed or a prerequisite is missing.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import (DAEMON_TOML, BackstopServe, Fail, Postfix, free_port_both, free_ports, listening,  # noqa: E402
                       reply_to, run, say, swaks, tail, wait_for)

KEEP = os.environ.get("BACKSTOP_E2E_KEEP") == "1"
ZONE = "bs.test"
LISTED = "127.0.0.5"
HOSTILE = "127.0.0.7"
CORPUS = ("sisimai-set-of-emails", ["bsd/lhost-postfix-01.eml", "bsd/lhost-postfix-02.eml",
                                    "bsd/lhost-sendmail-01.eml"])
CHROMIUM = ("chromium", "chromium-browser")


def websocket_module():
    """Debian's python3-websocket, also under another Python 3 than Debian's
    (a pure-Python package); None when it is not installed."""
    try:
        import websocket
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            import websocket
        except ImportError:
            return None
    return websocket


class Backstop(BackstopServe):
    def __init__(self, binary, tmp, milter_port, web_port):
        super().__init__(binary, tmp, milter_port, extra_ports=(web_port,))
        self.web_port = web_port
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
[ledger]
warmup_days = 0
[trap]
domains = ["trap.test"]
[dnsbl.web]
listen = "127.0.0.1:{web_port}"
zone = "{ZONE}"
contact = "dnsbl-ops@example.test"
[log]
target = "{self.logfile}"
level = "debug"
flush_ms = 0
""")

    def cli(self, *args, check_rc=True):
        return run([self.binary, "dnsbl", "--state", self.state, *args], check_rc=check_rc)

    def export(self, zonedir):
        self.cli("export", "--zone", ZONE, "--out", zonedir, "--ttl", "1")

    def lookup_json(self, ip):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/lookup/{ip}?format=json", timeout=10) as r:
            return json.loads(r.read().decode())


class Browser:
    """Headless Chromium driven over the DevTools protocol (one page)."""

    def __init__(self, exe, profile):
        websocket = websocket_module()
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-sync", "--disable-dev-shm-usage", "--remote-allow-origins=*", f"--user-data-dir={profile}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        port = None
        deadline = time.time() + 60
        while time.time() < deadline and port is None:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
        if port is None:
            raise Fail("Chromium did not start its DevTools endpoint")
        # keep draining stderr so Chromium never blocks on a full pipe
        import threading
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events = []
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Log.enable")

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise Fail(f"DevTools {method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method, timeout=30):
        deadline = time.time() + timeout
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while time.time() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.time()))
            msg = json.loads(self.ws.recv())
            if msg.get("method") == method:
                return msg
            self.events.append(msg)
        raise Fail(f"no {method} within {timeout} s")

    def navigate(self, url):
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise Fail(f"evaluating {expr!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def seen(self, method):
        return [e for e in self.events if e.get("method") == method]

    def close(self):
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def dig(port, name, qtype="A"):
    p = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+norecurse", "+notcp", "+time=1", "+tries=1",
                        name, qtype], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=10)
    status = re.search(r"status: (\w+)", p.stdout)
    answers = [l.split()[-1] for l in p.stdout.splitlines()
               if l and not l.startswith(";") and re.search(rf"\sIN\s+{qtype}\s", l)]
    return (status.group(1) if status else None), answers


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


# Headers a hostile bouncer (or the spammer whose message it bounces) controls.
HOSTILE_HEADERS = (
    "X-Inject-1: <script>window.__pwned=1;document.title='PWNED'</script>\r\n"
    "X-Inject-2: \"><img src=x onerror=\"window.__pwned=2;alert(2)\">\r\n"
    "X-Inject-3: '><svg onload=alert(3)></svg>\r\n"
    "X-Inject-4: </pre></section></main><iframe src=\"javascript:alert(4)\"></iframe>\r\n"
    "X-Inject-5: <!-- </style><style>body{display:none}</style><base href=\"http://evil.test/\"> -->\r\n"
    "X-Inject-6: =?utf-8?B?PHNjcmlwdD5hbGVydCg2KTwvc2NyaXB0Pg==?=\r\n"
    "X-Inject-7: <textarea><form action=http://evil.test/><button>go</button>\r\n"
)


def hostile_dsn(path):
    """The corpus DSN with hostile fields on top, broken UTF-8 and a 60 KB field."""
    with open(path, "rb") as f:
        raw = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    # 60 KB in one field, folded in lines of 999 bytes (SMTP's line limit)
    big = b"X-Big: " + b"\r\n\t".join([b"<b>" * 333] * 60) + b"\r\n"
    broken = b"X-Broken: caf\xc3 \xed\xa0\x80 \xc0\xbcscript\xc0\xbe \xff\xfe\r\n"
    return HOSTILE_HEADERS.encode() + broken + big + raw


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, shared = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if os.geteuid() != 0:
        print("FAIL: needs root (private Postfix instance)")
        return 1
    missing = [t for t in ("postfix", "swaks", "rbldnsd", "dig") if not shutil.which(t)]
    chromium = next((shutil.which(c) for c in CHROMIUM if shutil.which(c)), None)
    if not chromium:
        missing.append("chromium")
    if websocket_module() is None:
        missing.append("python3-websocket")
    if missing:
        print(f"FAIL: not installed: {', '.join(missing)} (scripts/install-deps.sh installs them)")
        return 1

    tmp = tempfile.mkdtemp(prefix="backstop-dnsbl-web-e2e.")
    os.chmod(tmp, 0o755)
    zonedir = os.path.join(tmp, "zones")
    os.makedirs(zonedir)
    os.chmod(zonedir, 0o755)
    smtp_port, milter_port, web_port = free_ports(3)
    dns_port = free_port_both()
    web = f"http://127.0.0.1:{web_port}"
    say(f"work dir {tmp}; smtp {smtp_port}, milter {milter_port}, web {web_port}, dns {dns_port}")

    pf = bs = rbl = browser = None
    rbl_out = os.path.join(tmp, "rbldnsd.out")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)

    def dump_logs():
        for label, path in (("maillog", pf.maillog if pf else ""),
                            ("backstop log", bs.logfile if bs else ""),
                            ("backstop stderr", bs.stderr if bs else ""),
                            ("rbldnsd", rbl_out)):
            if path:
                print(f"    --- {label}, last lines:")
                for line in tail(path):
                    print(f"    | {line}")

    ok = False
    check = None
    try:
        pf = Postfix(os.path.join(tmp, "pf"), smtp_port, milter_port, domains=("example.test", "trap.test"))
        bs = Backstop(binary, tmp, milter_port, web_port)
        check = pf.check_async()
        bs.start()
        pf.start(check)
        if not wait_for(lambda: listening(smtp_port), 20):
            raise Fail("Postfix smtpd is not listening")
        say("Postfix and backstop (milter + web page) up")

        # 1. a real DSN to the trap lists the client
        rel, corpus_path = pick_dsn(shared)
        with open(corpus_path, "rb") as f:
            dsn_text = f.read().decode("utf-8", "replace")
        # The DSN as the trap receives it: addressed to the trap (the forged
        # sender the bounce returns to), which the page must not reveal.
        victim = re.search(r"^To: ([^\s<>]+@[^\s<>]+)", dsn_text, re.M).group(1)
        dsn_text = dsn_text.replace(victim, "someone@trap.test")
        dsn_path = os.path.join(tmp, "dsn.eml")
        with open(dsn_path, "w", encoding="utf-8") as f:
            f.write(dsn_text)
        subject = re.search(r"^Subject: (.*)$", dsn_text, re.M).group(1).strip()
        mid = re.search(r"^Message-I[dD]: <([^>]*)>", dsn_text, re.M).group(1)

        def trap_hit(src, data):
            out = swaks(smtp_port, "<>", "someone@trap.test", src, data=data)
            r = reply_to(out, ".")
            if not r or not r.startswith("5"):
                raise Fail(f"the DSN to the trap from {src} was not rejected at end of DATA: {r!r}\n{out}")
            return r

        say(f"ok   DSN {rel} to someone@trap.test from {LISTED}: {trap_hit(LISTED, dsn_path)}")
        if not wait_for(lambda: bs.lookup_json(LISTED)["state"] == "listed", 10):
            raise Fail(f"{LISTED} not listed after the trap hit: {bs.lookup_json(LISTED)}")
        first = bs.lookup_json(LISTED)
        if first["listing_days"] != 28 or not first["evidence"]:
            raise Fail(f"first listing: {first}")
        say(f"ok   {LISTED} listed for {first['listing_days']} days, {len(first['evidence'])} evidence entry")

        # rbldnsd serves the export
        bs.export(zonedir)
        with open(rbl_out, "w") as o:
            rbl = subprocess.Popen(["rbldnsd", "-n", "-r", zonedir, "-b", f"127.0.0.1/{dns_port}", "-c", "1s",
                                    "-t", "60", f"{ZONE}:ip4set:{ZONE}.ip4set", f"{ZONE}:ip6trie:{ZONE}.ip6trie"],
                                   stdout=o, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        qname = ".".join(reversed(LISTED.split("."))) + "." + ZONE
        if not wait_for(lambda: rbl.poll() is None and dig(dns_port, qname)[1] == ["127.0.0.2"], 10):
            raise Fail(f"rbldnsd does not answer {qname} A 127.0.0.2: {dig(dns_port, qname)}")
        say(f"ok   dig {qname}: 127.0.0.2")

        # 2. the lookup page in Chromium
        browser = Browser(chromium, os.path.join(tmp, "chromium-profile"))
        browser.navigate(f"{web}/lookup/{LISTED}")
        state = browser.eval("document.getElementById('state').dataset.state")
        text = browser.eval("document.body.innerText")
        html = browser.eval("document.documentElement.outerHTML")
        if state != "listed":
            raise Fail(f"lookup page state {state!r}:\n{text}")
        for want in (subject, mid, "Received:"):
            if want not in text:
                raise Fail(f"the evidence lacks {want!r}:\n{text}")
        for secret in ("someone@trap.test", "trap.test"):
            if secret.lower() in html.lower():
                raise Fail(f"the page shows the trap ({secret!r})")
        evidence = browser.eval("Array.from(document.querySelectorAll('pre')).map(p => p.textContent).join('\\n')")
        if "[trap domain]" not in evidence:
            raise Fail(f"no redaction marker in the evidence:\n{evidence}")
        # The page's one inline style is allowed by its CSP hash (and nothing else is).
        if browser.eval("getComputedStyle(document.body).maxWidth") != "832px":
            raise Fail("the page's style was blocked: the CSP hash does not match the style")
        blocked = [e["params"]["entry"]["text"] for e in browser.seen("Log.entryAdded")
                   if "Content Security Policy" in e["params"]["entry"].get("text", "")]
        if blocked:
            raise Fail(f"CSP violations on our own page: {blocked}")
        say(f"ok   Chromium: {LISTED} listed, evidence shows Subject/Message-ID, trap address and domain hidden; "
            "style allowed by the CSP hash")

        # 3. submit the delisting form in the browser
        browser.eval("document.getElementById('reason').value = 'fixed our bounce configuration'")
        browser.events.clear()
        browser.eval("document.getElementById('delist').click()")
        browser.wait_event("Page.loadEventFired")
        after = browser.eval("document.getElementById('state') && document.getElementById('state').dataset.state")
        if after != "delisted":
            raise Fail(f"after the form: {browser.eval('document.body.innerText')}")
        say("ok   Chromium: delisting form submitted, page says delisted")
        if not bs.log_lines(rf"self-service delisted {re.escape(LISTED)} \(self-service by 127\.0\.0\.1: "
                            r"fixed our bounce configuration\)"):
            raise Fail("the delisting is not logged with requester and reason")

        # 4. export: rbldnsd no longer answers
        time.sleep(1.1)  # a new mtime second for rbldnsd's check
        bs.export(zonedir)
        if not wait_for(lambda: dig(dns_port, qname)[0] == "NXDOMAIN", 10):
            raise Fail(f"rbldnsd still answers {qname} after the export: {dig(dns_port, qname)}")
        say(f"ok   export after the delisting: dig {qname}: NXDOMAIN")

        # 5. the same trap hit again: listed again, for longer
        say(f"ok   the same DSN again from {LISTED}: {trap_hit(LISTED, dsn_path)}")
        if not wait_for(lambda: bs.lookup_json(LISTED)["state"] == "listed", 10):
            raise Fail(f"{LISTED} not listed again: {bs.lookup_json(LISTED)}")
        again = bs.lookup_json(LISTED)
        if again["listing_days"] != 56 or again["self_delists"] != 1:
            raise Fail(f"relisting not escalated: {again}")
        time.sleep(1.1)
        bs.export(zonedir)
        if not wait_for(lambda: dig(dns_port, qname)[1] == ["127.0.0.2"], 10):
            raise Fail(f"rbldnsd does not list {qname} again: {dig(dns_port, qname)}")
        say(f"ok   listed again for {again['listing_days']} days (was {first['listing_days']}); dig: 127.0.0.2")

        # 6. hostile headers cannot run in the page
        say(f"ok   hostile DSN from {HOSTILE}: " + trap_hit_data(smtp_port, HOSTILE, hostile_dsn(dsn_path)))
        if not wait_for(lambda: bs.lookup_json(HOSTILE)["state"] == "listed", 10):
            raise Fail(f"{HOSTILE} not listed: {bs.lookup_json(HOSTILE)}")
        browser.events.clear()
        browser.navigate(f"{web}/lookup/{HOSTILE}")
        time.sleep(1)  # let anything that could run, run
        dialogs = browser.seen("Page.javascriptDialogOpening")
        if dialogs:
            raise Fail(f"a dialog opened: {dialogs}")
        if browser.eval("window.__pwned === undefined") is not True or "PWNED" in browser.eval("document.title"):
            raise Fail("a script from the evidence ran")
        bad = browser.eval("Array.from(document.querySelectorAll('script,img,svg,iframe,object,embed,base,link,"
                           "textarea:not(#reason),form:not(#delist-form),button:not(#delist)')).map(e => e.outerHTML)")
        if bad:
            raise Fail(f"injected elements in the DOM: {bad}")
        handlers = browser.eval("Array.from(document.querySelectorAll('*')).flatMap(e => Array.from(e.attributes)"
                                ".filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name))")
        if handlers:
            raise Fail(f"event handler attributes in the DOM: {handlers}")
        styles = browser.eval("document.querySelectorAll('style').length")
        if styles != 1:
            raise Fail(f"{styles} style elements (the page writes one)")
        text = browser.eval("Array.from(document.querySelectorAll('pre')).map(p => p.textContent).join('\\n')")
        for want in ("<script>window.__pwned=1", "onerror=\"window.__pwned=2", "<svg onload=alert(3)>",
                     "</pre></section></main><iframe", "<b><b><b>"):
            if want not in text:
                raise Fail(f"the hostile text {want!r} is not shown as text:\n{text[:3000]}")
        visible = browser.eval("getComputedStyle(document.body).display")
        if visible == "none":
            raise Fail("an injected style hid the page")
        # Readable on a phone: at 375 CSS pixels nothing scrolls sideways.
        browser.call("Emulation.setDeviceMetricsOverride", width=375, height=740, deviceScaleFactor=2, mobile=True)
        browser.navigate(f"{web}/lookup/{HOSTILE}")
        wide = browser.eval("document.documentElement.scrollWidth")
        if wide > 375:
            raise Fail(f"the lookup page is {wide} px wide on a 375 px phone screen")
        logs = [e["params"]["entry"]["text"] for e in browser.seen("Log.entryAdded")]
        say(f"ok   Chromium: hostile headers shown as text; no dialog, no script, no injected element"
            f"{'; console: ' + '; '.join(logs) if logs else ''}")

        browser.close()
        browser = None
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
        if browser:
            browser.close()
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


def trap_hit_data(smtp_port, src, data):
    """Sends `data` (bytes) from <> to the trap through Postfix; the reply to DATA's end."""
    path = os.path.join(tempfile.gettempdir(), f"backstop-hostile-{os.getpid()}.eml")
    with open(path, "wb") as f:
        f.write(data)
    try:
        out = swaks(smtp_port, "<>", "someone@trap.test", src, data=path)
    finally:
        os.unlink(path)
    r = reply_to(out, ".")
    if not r or not r.startswith("5"):
        raise Fail(f"the hostile DSN from {src} was not rejected at end of DATA: {r!r}\n{out[-3000:]}")
    return r


if __name__ == "__main__":
    sys.exit(main())
