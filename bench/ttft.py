#!/usr/bin/python3
"""Time to first token of a streamed chat completion, and total time, over n sequential runs.
ttft.py URL QUERY [--n 30] [--alpha 0.5] -> JSON with medians in ms and the route of the last run."""
import argparse, http.client, json, statistics, time, urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("url"); ap.add_argument("query")
ap.add_argument("--n", type=int, default=30); ap.add_argument("--alpha", type=float, default=0.5)
ap.add_argument("--max-tokens", type=int, default=16)
a = ap.parse_args()
u = urllib.parse.urlparse(a.url)
ttft, total, route = [], [], None
for i in range(a.n):
    body = json.dumps({"stream": True, "max_tokens": a.max_tokens, "disr": {"alpha": a.alpha},
                       "messages": [{"role": "user", "content": a.query}]})
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    t0 = time.perf_counter(); first = None
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    buf = b""
    while True:
        line = r.fp.readline()
        if not line: break
        if line.startswith(b"data: {"):
            ev = json.loads(line[6:])
            if first is None and ev["choices"][0]["delta"].get("content"): first = time.perf_counter()
            if "disr" in ev: route = ev["disr"]
        if line.startswith(b"data: [DONE]"): break
    t1 = time.perf_counter()
    conn.close()
    if i == 0: continue  # warm-up
    ttft.append(((first or t1) - t0) * 1e3); total.append((t1 - t0) * 1e3)
print(json.dumps({"runs": len(ttft), "ttft_ms_p50": round(statistics.median(ttft), 3),
                  "total_ms_p50": round(statistics.median(total), 3),
                  "route": [(h["agent"], h["decision"], h["latency_ms"]) for h in route["route"]]}))
