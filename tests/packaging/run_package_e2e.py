#!/usr/bin/env python3
"""The Debian package, built, checked, installed, run and purged for real.

usage: run_package_e2e.py build SOURCE_DIR WORK_DIR    (steps 1-2)
       run_package_e2e.py install SOURCE_DIR WORK_DIR  (steps 3-7)

1. scripts/build-deb.sh builds backstop_*.deb from the tree into WORK_DIR/deb
   (ccache makes a rebuild of unchanged sources cheap);
2. lintian reports no error and no warning that debian/ does not explain;
3. `dpkg -i`: the binary in /usr/sbin, the conffile, the `backstop` account,
   /var/lib/backstop (0700), the units, man pages and docs the units name;
4. `backstop config check` accepts the installed conffile;
5. `backstop serve` runs as the unit's ExecStart says, as the unit's user
   (setpriv: systemd is not PID 1 here), with the unit's umask and
   descriptor limit, on the installed configuration's ports; beside it the
   dnsbl export unit's ExecStart writes its zone files;
6. a private Postfix on loopback (port chosen free) with backstop as its
   milter delivers a message and hands a forged bounce to backstop, which
   logs a decision for each; `dpkg -i` again (as an upgrade) keeps a
   changed conffile and the BATV keys;
7. `dpkg --purge`: binary, configuration, state, logs and unit links gone.

`build` needs no root and changes nothing outside WORK_DIR but ccache's
cache. `install` is root only: it exits 77 (ctest: skipped) otherwise, and
when a backstop package, /etc/backstop, /usr/sbin/backstop or
/var/lib/backstop is already on this machine (the test would replace, then
remove it). The binaries the tests build are never installed: every other
test runs them by path. It installs the package system-wide, so ctest runs it alone
(RUN_SERIAL); whatever happens, it purges what it installed and removes the
`backstop` account if it created it.
"""
import glob
import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pfharness import (Checks, Fail, Postfix, dsn, free_ports, http_get, ignore_signals, listening,  # noqa: E402
                       pid_alive, reply_to, say, stop_on_signals, swaks, tail, wait_for)

SKIP = 77
UNIT = "/lib/systemd/system/backstop.service"
EXPORT_UNIT = "/lib/systemd/system/backstop-dnsbl-export@.service"
CONF = "/etc/backstop/backstop.toml"


def sh(*cmd, check=True, timeout=600, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise Fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}")
    return p


def installed():
    p = sh("dpkg-query", "-W", "-f=${Status}", "backstop", check=False)
    return p.returncode == 0 and "installed" in p.stdout and "not-installed" not in p.stdout


def exists_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def exists_group(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def unit_value(path, key):
    """The values of `key` in a unit file, with continuation lines joined."""
    text = open(path).read().replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{key}=(.*)$", text, re.M)]


def build(src, work):
    missing = [p for p in ("dpkg-buildpackage", "dh", "lintian") if not shutil.which(p)]
    if missing:
        print(f"FAIL: needs {', '.join(missing)} (scripts/install-deps.sh installs them)")
        return 1
    check = Checks()
    try:
        t0 = time.monotonic()
        out = sh(os.path.join(src, "scripts", "build-deb.sh"), os.path.join(work, "deb"), timeout=1700).stdout
        debs = glob.glob(os.path.join(work, "deb", "backstop_*.deb"))
        check(len(debs) == 1, f"the package builds ({time.monotonic() - t0:.0f} s): {out.strip()}")
        print(sh("dpkg-deb", "--info", debs[0]).stdout + sh("dpkg-deb", "--contents", debs[0]).stdout)
        # lintian: errors and unexplained warnings fail (overrides in debian/)
        p = sh("lintian", "--fail-on", "error,warning", "--display-info", "--show-overrides", debs[0],
               check=False, timeout=300)
        print(p.stdout)
        check(p.returncode == 0, "lintian: no error, no warning without an override")
        # the copy and its build directory (500 MB); ccache keeps what matters
        shutil.rmtree(os.path.join(work, "deb", "src"), ignore_errors=True)
    except Fail as e:
        check.failures.append(str(e))
        print(e)
    return 1 if check.failures else 0


def install(src, work):
    if os.geteuid() != 0:
        print("SKIP: needs root (installs the package with dpkg)")
        return SKIP
    missing = [p for p in ("postfix", "swaks", "setpriv", "prlimit", "man") if not shutil.which(p)]
    if missing:
        print(f"FAIL: needs {', '.join(missing)} (scripts/install-deps.sh installs them)")
        return 1
    debs = glob.glob(os.path.join(work, "deb", "backstop_*.deb"))
    if len(debs) != 1:
        print(f"FAIL: no package in {work}/deb (the package_build test makes it)")
        return 1
    deb = debs[0]
    # Anything the package would overwrite and its purge delete: a package,
    # a configuration, or a binary installed by hand (docs/install.md).
    if installed() or any(os.path.lexists(p) for p in ("/etc/backstop", "/usr/sbin/backstop", "/var/lib/backstop")):
        print("SKIP: backstop (a package, /etc/backstop, /usr/sbin/backstop or /var/lib/backstop) is already "
              "on this machine; the test would replace and then remove it")
        return SKIP
    user_before, group_before = exists_user("backstop"), exists_group("backstop")
    check = Checks()
    stop_on_signals()
    serve = pf = None
    tmp = os.path.join(work, "run")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    os.chmod(tmp, 0o755)
    try:
        # 3. install
        p = sh("dpkg", "-i", deb, check=False, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        print(p.stdout)
        check(p.returncode == 0 and installed(), "dpkg -i installs the package")
        st = os.stat("/usr/sbin/backstop")
        check(st.st_mode & 0o7777 == 0o755 and st.st_uid == 0, "/usr/sbin/backstop, root 0755")
        conffiles = sh("dpkg-query", "-W", "-f=${Conffiles}", "backstop").stdout
        check(CONF in conffiles, f"{CONF} is a conffile")
        shipped = open(os.path.join(src, "packaging", "backstop.toml")).read()
        check(open(CONF).read() == shipped, f"{CONF} is packaging/backstop.toml")
        check(exists_user("backstop") and pwd.getpwnam("backstop").pw_uid < 1000
              and pwd.getpwnam("backstop").pw_shell in ("/usr/sbin/nologin", "/bin/false"),
              "postinst created the system user backstop (no login shell)")
        check(exists_group("backstop") and pwd.getpwnam("backstop").pw_gid == grp.getgrnam("backstop").gr_gid,
              "...with its own group backstop")
        st = os.stat("/var/lib/backstop")
        check(st.st_uid == pwd.getpwnam("backstop").pw_uid and st.st_mode & 0o7777 == 0o700,
              "/var/lib/backstop belongs to backstop, mode 0700")
        check(os.path.isdir("/var/log/backstop") and os.path.exists("/etc/logrotate.d/backstop"),
              "/var/log/backstop and its logrotate configuration")
        check(os.path.exists(UNIT) and os.path.exists(EXPORT_UNIT), "the serve and dnsbl export units")
        check(os.path.islink("/etc/systemd/system/multi-user.target.wants/backstop.service"),
              "backstop.service is enabled")
        docs = []
        for unit in (UNIT, EXPORT_UNIT):
            for line in unit_value(unit, "Documentation"):
                docs += line.split()
        for d in docs:
            if d.startswith("file://"):
                check(os.path.isfile(d[len("file://"):]), f"Documentation= {d} exists")
            elif (m := re.fullmatch(r"man:(.+)\((\d)\)", d)):
                w = sh("man", "-w", m.group(2), m.group(1), check=False)
                check(w.returncode == 0, f"Documentation= {d}: {w.stdout.strip()}")
        check(len(docs) >= 4, f"the units name their documentation ({len(docs)} entries)")
        r = sh("man", "-l", "/usr/share/man/man5/backstop.toml.5.gz", check=False)
        check(r.returncode == 0 and "milter.listen" in r.stdout, "backstop.toml(5) renders and lists milter.listen")

        # 4. the installed configuration
        p = sh("/usr/sbin/backstop", "config", "check", "--config", CONF, check=False)
        check(p.returncode == 0 and f"{CONF}: OK" in p.stdout, f"backstop config check: {p.stdout.strip()}")

        # 5. serve, as the unit starts it
        exec_start = unit_value(UNIT, "ExecStart")[0].split()
        check(exec_start[0] == "/usr/sbin/backstop" and "serve" in exec_start, f"ExecStart={' '.join(exec_start)}")
        user, group = unit_value(UNIT, "User")[0], unit_value(UNIT, "Group")[0]
        umask = int(unit_value(UNIT, "UMask")[0], 8)
        nofile = unit_value(UNIT, "LimitNOFILE")[0]
        ports = {"milter": 8895, "policy": 8896, "metrics": 9895}
        busy = [f"{k} {v}" for k, v in ports.items() if listening(v)]
        if busy:
            raise Fail(f"the installed configuration's ports are in use here: {busy}")
        # RuntimeDirectory=backstop, as systemd would create it
        os.makedirs("/run/backstop", exist_ok=True)
        shutil.chown("/run/backstop", user, group)
        os.chmod("/run/backstop", 0o750)
        stderr_path = os.path.join(tmp, "serve.stderr")
        err = open(stderr_path, "w")
        os.chmod(stderr_path, 0o644)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        serve = subprocess.Popen(
            ["prlimit", f"--nofile={nofile}:{nofile}", "--", "setpriv", f"--reuid={user}", f"--regid={group}",
             "--init-groups", "--no-new-privs", "--", *exec_start],
            stdout=err, stderr=err, stdin=subprocess.DEVNULL, cwd="/", env=env,
            preexec_fn=lambda: os.umask(umask))
        err.close()
        up = wait_for(lambda: serve.poll() is not None or all(listening(p) for p in ports.values()), 60)
        check(up and serve.poll() is None, "backstop serve listens on the milter, policy and metrics ports",
              [("serve stderr", stderr_path)])
        if serve.poll() is not None:
            raise Fail("serve exited")
        status = open(f"/proc/{serve.pid}/status").read()
        uid = pwd.getpwnam(user).pw_uid
        check(re.search(rf"^Uid:\s+{uid}\s+{uid}\s+{uid}\s+{uid}$", status, re.M) is not None,
              f"serve runs as {user} (uid {uid}), never root")
        check(http_get(ports["metrics"], "/healthz")[0] == 200, "/healthz answers 200")
        check(wait_for(lambda: os.path.exists("/var/lib/backstop/batv.keys"), 10)
              and os.stat("/var/lib/backstop/batv.keys").st_uid == uid
              and os.stat("/var/lib/backstop/batv.keys").st_mode & 0o777 == 0o600,
              "the BATV key file was created in /var/lib/backstop, owned by backstop, mode 0600",
              [("serve stderr", stderr_path)])

        # 5b. the export unit's command, beside the running serve
        export_cmd = " ".join(unit_value(EXPORT_UNIT, "ExecStart"))
        interval = [v for v in unit_value(EXPORT_UNIT, "Environment") if v.startswith("BACKSTOP_DNSBL_EXPORT_INTERVAL=")]
        export_cmd = (export_cmd.replace("%i", "bl.example.org")
                      .replace("${BACKSTOP_DNSBL_EXPORT_INTERVAL}", interval[0].split("=", 1)[1])
                      .replace("$BACKSTOP_DNSBL_EXPORT_OPTIONS", "")).split()
        # StateDirectory=backstop-dnsbl, StateDirectoryMode=0755, as systemd would create it
        os.makedirs("/var/lib/backstop-dnsbl", exist_ok=True)
        shutil.chown("/var/lib/backstop-dnsbl", user, group)
        os.chmod("/var/lib/backstop-dnsbl", 0o755)
        export_umask = int(unit_value(EXPORT_UNIT, "UMask")[0], 8)
        exp = subprocess.Popen(["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups", "--no-new-privs",
                                "--", *export_cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd="/", env=env, preexec_fn=lambda: os.umask(export_umask))
        first = exp.stdout.readline()
        zone_file = "/var/lib/backstop-dnsbl/bl.example.org.ip4set"
        check(first.startswith("exported") and os.path.exists(zone_file)
              and os.stat(zone_file).st_mode & 0o777 == 0o644,
              f"the dnsbl export unit's command exports, world-readable, beside serve: {first.strip()}")
        exp.terminate()
        check(exp.wait(15) == 0, "...and exits 0 on SIGTERM")

        # 6. mail through a private Postfix with the installed milter
        (smtp_port,) = free_ports(1)
        pf = Postfix(os.path.join(tmp, "postfix"), smtp_port, ports["milter"], domains=("example.org",),
                     hostname="mx.example.org")
        pf.start(pf.check_async())
        mid = f"pkg-{os.getpid()}@remote.example"
        msg = os.path.join(tmp, "plain.eml")
        with open(msg, "w") as f:
            f.write(f"From: friend@remote.example\r\nTo: user@example.org\r\nSubject: hello\r\n"
                    f"Message-ID: <{mid}>\r\n\r\nHello from the package test.\r\n")
        out = swaks(smtp_port, "friend@remote.example", "user@example.org", data=msg)
        check((reply_to(out, ".") or "").startswith("250"), "Postfix accepts a plain message through the milter",
              [("maillog", pf.maillog), ("serve stderr", stderr_path)])
        sink = os.path.join(pf.root, "mail", "sink")
        check(wait_for(lambda: any(mid in open(p, errors="replace").read()
                                   for p in glob.glob(os.path.join(sink, "*", "*"))), 30),
              "...and delivers it", [("maillog", pf.maillog)])
        bounce = os.path.join(tmp, "bounce.eml")
        with open(bounce, "w", newline="") as f:
            f.write(dsn(f"never-sent-{os.getpid()}@example.org", rcpt="user@example.org"))
        out = swaks(smtp_port, "<>", "user@example.org", data=bounce)
        bounce_reply = reply_to(out, ".") or reply_to(out, "RCPT") or ""
        say(f"forged bounce: {bounce_reply}")
        check(bounce_reply[:1] in ("2", "5"), f"the forged bounce gets a decision, not a tempfail: {bounce_reply}",
              [("serve stderr", stderr_path), ("maillog", pf.maillog)])
        check(wait_for(lambda: len([l for l in tail(stderr_path, 1000) if "role=inbound" in l]) >= 2, 10),
              "serve logged a decision for each message (stderr: the journal under systemd)",
              [("serve stderr", stderr_path)])
        pf.stop()
        pf = None
        serve.terminate()
        rc = serve.wait(30)
        check(rc == 0, f"serve exits 0 on SIGTERM (exit {rc})", [("serve stderr", stderr_path)])
        serve = None

        # 6b. install over itself, as an upgrade does: a local change to the
        # conffile and the state (the BATV keys) stay
        with open(CONF, "a") as f:
            f.write("# a local change\n")
        keys_before = open("/var/lib/backstop/batv.keys").read()
        p = sh("dpkg", "-i", deb, check=False, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        check(p.returncode == 0 and open(CONF).read().endswith("# a local change\n")
              and open("/var/lib/backstop/batv.keys").read() == keys_before,
              "installing again keeps the changed conffile and the BATV keys", [])
        st = os.stat("/var/lib/backstop")
        check(st.st_uid == uid and st.st_mode & 0o7777 == 0o700, "...and /var/lib/backstop as it was")
    except Exception as e:  # noqa: BLE001 - report, then clean up below
        import traceback
        traceback.print_exc()
        check.failures.append(f"exception: {e}")
    finally:
        ignore_signals()
        if pf:
            pf.stop()
        if serve and serve.poll() is None:
            serve.kill()
            serve.wait()
        # 7. purge (also after a failure: the machine is left as it was)
        if installed() or os.path.exists("/var/lib/dpkg/info/backstop.list"):
            p = sh("dpkg", "--purge", "backstop", check=False)
            print(p.stdout)
            check(p.returncode == 0, "dpkg --purge backstop")
        gone = ["/usr/sbin/backstop", "/etc/backstop", "/var/lib/backstop", "/var/log/backstop", "/var/lib/backstop-dnsbl",
                "/etc/logrotate.d/backstop", UNIT, EXPORT_UNIT, "/etc/default/backstop-dnsbl-export",
                "/etc/systemd/system/multi-user.target.wants/backstop.service",
                "/usr/share/doc/backstop", "/usr/share/man/man8/backstop.8.gz"]
        left = [p for p in gone if os.path.lexists(p)]
        check(not left and not installed(), f"after the purge nothing is left ({left})")
        shutil.rmtree("/run/backstop", ignore_errors=True)
        # Debian keeps a purged package's system account; the test removes the
        # one it caused, so that the machine is as before.
        if not user_before and exists_user("backstop"):
            sh("deluser", "--system", "--quiet", "backstop", check=False)
        if not group_before and exists_group("backstop"):
            sh("delgroup", "--system", "--quiet", "backstop", check=False)
    print(f"{len(check.failures)} failure(s)")
    for f in check.failures:
        print("  FAIL", f)
    return 1 if check.failures else 0


if __name__ == "__main__":
    mode, src, work = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    os.makedirs(work, exist_ok=True)
    sys.exit({"build": build, "install": install}[mode](src, work))
