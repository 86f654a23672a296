#!/usr/bin/python3
"""Concurrent chat-completion load against a DiSRouter entry node (stdlib only).

netload.py URL --n 200 --concurrency 200 [--query 'q{i} hard'] [--alpha 0.5] [--out FILE]
Sends n queries from `concurrency` threads (one keep-alive connection each). Each result line
in --out is {"i", "status", "ms", "reply"}. Prints a summary: ok count, errors, latency p50/p90/p99,
requests per second."""
import argparse, http.client, json, sys, threading, time, urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("--n", type=int, default=200)
ap.add_argument("--concurrency", type=int, default=64)
ap.add_argument("--query", default="query {i}", help="{i}: query number, {l}: i %% levels + 1")
ap.add_argument("--levels", type=int, default=1)
ap.add_argument("--alpha", type=float, default=0.5)
ap.add_argument("--key", default=None)
ap.add_argument("--timeout", type=float, default=60)
ap.add_argument("--out", default=None)
a = ap.parse_args()
u = urllib.parse.urlparse(a.url)
lock = threading.Lock()
next_i = [0]
results = []

def worker():
    conn = None
    while True:
        with lock:
            i = next_i[0]
            if i >= a.n: break
            next_i[0] += 1
        body = json.dumps({"messages": [{"role": "user", "content": a.query.format(i=i, l=i % a.levels + 1)}],
                           "disr": {"alpha": a.alpha}})
        hdr = {"Content-Type": "application/json"}
        if a.key: hdr["Authorization"] = "Bearer " + a.key
        t0 = time.perf_counter()
        rec = {"i": i, "status": 0, "reply": None}
        for attempt in range(2):  # a reset keep-alive connection is retried once on a fresh one
            try:
                if conn is None: conn = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
                conn.request("POST", "/v1/chat/completions", body, hdr)
                r = conn.getresponse()
                data = r.read()
                rec["status"] = r.status
                rec["reply"] = json.loads(data)
                break
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                conn = None
                rec["error"] = str(e)
        rec["ms"] = (time.perf_counter() - t0) * 1e3
        with lock: results.append(rec)

t0 = time.perf_counter()
ts = [threading.Thread(target=worker) for _ in range(a.concurrency)]
for t in ts: t.start()
for t in ts: t.join()
wall = time.perf_counter() - t0
ok = [r for r in results if r["status"] == 200]
lat = sorted(r["ms"] for r in ok)
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
if a.out:
    with open(a.out, "w") as f:
        for r in sorted(results, key=lambda r: r["i"]): f.write(json.dumps(r) + "\n")
print(json.dumps({"n": a.n, "ok": len(ok), "errors": len(results) - len(ok), "wall_s": round(wall, 3),
                  "rps": round(len(ok) / wall, 1), "p50_ms": round(pct(0.5), 3),
                  "p90_ms": round(pct(0.9), 3), "p99_ms": round(pct(0.99), 3)}))
