#!/usr/bin/env python3
"""Helpers of bench/e2e/run.sh.

  ports N                 N free loopback TCP ports
  wait-port PORT SECS     exit 0 once 127.0.0.1:PORT accepts, 1 after SECS
  cpu PID...              CPU seconds (user+system, children included) of the
                          process trees rooted at PID...: the sum over every live
                          process of the tree of utime+stime+cutime+cstime, so a
                          child that exits and is reaped moves its time into its
                          parent's cutime instead of vanishing
  backstop-count URL      sum of backstop_messages_total on a /metrics page
  rspamd-scanned URL      "scanned" from rspamd's controller /stat
  rss PID...              resident memory of the process trees rooted at
                          PID...: current VmRSS and peak VmHWM summed over
                          their live processes, in kB
  threads PID             per thread of PID: name, CPU seconds, voluntary and
                          involuntary context switches (to see where a daemon's
                          CPU goes: event loops, workers, writer)
  summary RESULTS.tsv     medians per scenario and payload, as a Markdown table
  latency-log FILE [MIN_MS MAX_MS]
                          reads milter_load --latency-log output: p50/p99, how
                          the slowest 1% cluster in time, and the period
                          between MIN_MS and MAX_MS (default 45 and 60) that
                          gathers most of them into one 3 ms window, and their
                          share in it (3 ms over the period is what chance alone
                          would give)
"""
import json
import os
import socket
import statistics
import sys
import time
import urllib.request

TCK = os.sysconf("SC_CLK_TCK")


def ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def wait_port(port, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return 0
        except OSError:
            time.sleep(0.1)
    return 1


def procs():
    """pid -> (ppid, ticks) for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # rest[0] is field 3 (state): ppid=4, utime=14, stime=15, cutime=16, cstime=17
        out[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
    return out


def cpu(pids):
    table = procs()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen, stack, ticks = set(), [int(p) for p in pids], 0
    while stack:
        p = stack.pop()
        if p in seen or p not in table:
            continue
        seen.add(p)
        ticks += table[p][1]
        stack.extend(children.get(p, []))
    print(f"{ticks / TCK:.2f}")


def rss(pids):
    table = procs()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen, stack, cur, peak, n = set(), [int(p) for p in pids], 0, 0, 0
    while stack:
        p = stack.pop()
        if p in seen or p not in table:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        cur += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        peak += int(line.split()[1])
        except OSError:
            continue
        n += 1
        stack.extend(children.get(p, []))
    print(f"processes={n} rss_kb={cur} peak_rss_kb={peak}")


def threads(pid):
    for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            with open(f"{base}/comm") as f:
                name = f.read().strip()
            with open(f"{base}/status") as f:
                st = dict(l.split(":", 1) for l in f if ":" in l)
        except OSError:
            continue
        cpu_s = (int(rest[11]) + int(rest[12])) / TCK
        print(f"{tid}\t{name}\t{cpu_s:.2f}\t{st['voluntary_ctxt_switches'].strip()}\t"
              f"{st['nonvoluntary_ctxt_switches'].strip()}")


def fetch(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode("utf-8", "replace")


def backstop_count(url):
    total = 0.0
    for line in fetch(url).splitlines():
        if line.startswith("backstop_messages_total"):
            total += float(line.rsplit(None, 1)[1])
    print(int(total))


def rspamd_scanned(url):
    print(json.loads(fetch(url, {"Password": "q1"})).get("scanned", 0))


def summary(path):
    rows = []
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(head, line.rstrip("\n").split("\t"))))
    groups = {}
    for r in rows:
        groups.setdefault((r["payload"], r["scenario"]), []).append(r)
    order = ["none", "testd", "backstop", "backstop-unix", "rspamd", "spamass-milter"]
    # Paired ratio: each scenario's rate over the no-milter rate of the same
    # round, then the median of those ratios (drift of the machine between
    # rounds cancels out).
    none_by_round = {(r["payload"], r["run"]): float(r["msgs_per_s"])
                     for r in rows if r["scenario"] == "none" and r["ok"] == "1"}
    base = {}
    print("| payload | scenario | runs | msgs/s through the chain (median) | range | smtp-source msgs/s | "
          "filter CPU ms/msg | Postfix CPU ms/msg | % of no-milter | paired % (median, range) | load avg (1 min) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for payload in sorted({k[0] for k in groups}):
        for sc in order:
            g = groups.get((payload, sc))
            if not g:
                continue
            ok = [r for r in g if r["ok"] == "1"]
            if not ok:
                print(f"| {payload} | {sc} | {len(g)} | failed | | | | | | | |")
                continue
            rate = [float(r["msgs_per_s"]) for r in ok]
            src = [float(r["source_msgs_per_s"]) for r in ok]
            fcpu = [1000 * float(r["filter_cpu_s"]) / int(r["n"]) for r in ok]
            pcpu = [1000 * float(r["postfix_cpu_s"]) / int(r["n"]) for r in ok]
            loads = [float(r["load1"]) for r in ok]
            med = statistics.median(rate)
            if sc == "none":
                base[payload] = med
            pct = f"{100 * med / base[payload]:.0f}%" if base.get(payload) else "—"
            ratios = [100 * float(r["msgs_per_s"]) / none_by_round[(payload, r["run"])]
                      for r in ok if (payload, r["run"]) in none_by_round]
            paired = (f"{statistics.median(ratios):.0f}% ({min(ratios):.0f}–{max(ratios):.0f}%)"
                      if ratios and sc != "none" else "—")
            print(f"| {payload} | {sc} | {len(ok)}/{len(g)} | {med:.0f} | {min(rate):.0f}–{max(rate):.0f} | "
                  f"{statistics.median(src):.0f} | {statistics.median(fcpu):.2f} | {statistics.median(pcpu):.2f} | "
                  f"{pct} | {paired} | {min(loads):.1f}–{max(loads):.1f} |")


def latency_log(path, lo_ms=45.0, hi_ms=60.0):
    rows = []
    with open(path) as f:
        for line in f:
            start, lat, _conn = line.split()
            rows.append((int(start), int(lat)))
    if not rows:
        sys.exit(f"{path}: no messages")
    rows.sort()
    lat = sorted(r[1] for r in rows)
    p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    top = [r for r in rows if r[1] >= p99]
    # Slow messages closer than 3 ms to the previous one belong to one stall.
    stalls = 0
    last = None
    for start, _ in top:
        if last is None or start - last >= 3000:
            stalls += 1
        last = start
    best_share, best_period = 0.0, 0.0
    period_us = lo_ms * 1000
    while period_us <= hi_ms * 1000:
        bins = [0] * (int(period_us // 1000) + 1)
        for start, _ in top:
            bins[int((start % period_us) // 1000)] += 1
        ring = bins + bins[:2]  # a window may wrap past the period's end
        window = max(sum(ring[i:i + 3]) for i in range(len(bins)))
        if window / len(top) > best_share:
            best_share, best_period = window / len(top), period_us
        period_us += 20
    print(f"messages={len(rows)} p50_us={p50} p99_us={p99} slowest_1pct={len(top)} stalls={stalls} "
          f"period_ms={best_period / 1000:.2f} share_in_3ms={best_share:.2f} "
          f"chance={3000 / best_period:.2f}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "ports":
        ports(int(args[0]))
    elif cmd == "wait-port":
        sys.exit(wait_port(int(args[0]), float(args[1])))
    elif cmd == "cpu":
        cpu(args)
    elif cmd == "backstop-count":
        backstop_count(args[0])
    elif cmd == "rspamd-scanned":
        rspamd_scanned(args[0])
    elif cmd == "rss":
        rss(args)
    elif cmd == "threads":
        threads(args[0])
    elif cmd == "summary":
        summary(args[0])
    elif cmd == "latency-log":
        latency_log(args[0], *(float(a) for a in args[1:3]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
