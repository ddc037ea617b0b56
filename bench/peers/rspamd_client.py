#!/usr/bin/env python3
"""rspamd_client.py --port N PATH... : posts each message to a running rspamd's
/checkv2 (4 in flight, keep-alive per thread) and prints one JSON line per
message: kind "bounce" when the BOUNCE symbol fired, else "none"."""
import argparse
import concurrent.futures
import http.client
import json
import sys
import threading

import walk

local = threading.local()


def check(port, data):
    for attempt in range(3):
        try:
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            local.conn.request("POST", "/checkv2", body=data, headers={"Pass": "all"})
            return json.loads(local.conn.getresponse().read())
        except (OSError, http.client.HTTPException):
            local.__dict__.pop("conn", None)
    return {"error": "no answer"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    msgs = list(walk.messages(a.paths))
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        results = ex.map(lambda m: check(a.port, m[2]), msgs)
        for (f, i, _), r in zip(msgs, results):
            syms = sorted((r.get("symbols") or {}).keys())
            kind = "bounce" if "BOUNCE" in syms else "none"
            sig = [s for s in syms if "BOUNCE" in s]
            if "error" in r:
                sig.append("error:" + str(r["error"])[:80])
            print(json.dumps({"file": f, "index": i, "kind": kind, "signals": sig}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
