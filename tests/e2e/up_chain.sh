#!/usr/bin/env bash
# A 4-agent chain started by `disr up` from a network file: queries of difficulty L1..L4 reach
# the agent able to answer them; every node's /metrics matches the routes the clients saw; then
# a middle agent is killed during 200 concurrent queries: every query still gets exactly one
# answer, and the routes show the skip. `disr ask` and `disr up --down` are exercised too.
source "$(dirname "$0")/lib_net.bash"
NL=$(realpath "$(dirname "$0")/../../bench/netload.py")
cd "$TMP"
cat >a1.jsonl <<'J'
{"contains":"L2","reply":"I don't know!"}
{"contains":"L3","reply":"I don't know!"}
{"contains":"L4","reply":"I don't know!"}
{"reply":"answer by a1"}
J
cat >a2.jsonl <<'J'
{"contains":"L3","reply":"I don't know!","delay_ms":200}
{"contains":"L4","reply":"I don't know!","delay_ms":200}
{"reply":"answer by a2","delay_ms":200}
J
cat >a3.jsonl <<'J'
{"contains":"L4","reply":"I don't know!"}
{"reply":"answer by a3"}
J
echo '{"reply":"answer by a4"}' >a4.jsonl
conf() {
    cat <<C
# four scripted agents on loopback
[network]
hop_secret = e2e-secret
[agent a1]
script = a1.jsonl
port = $1
[agent a2]
script = a2.jsonl
port = $(($1 + 1))
[agent a3]
script = a3.jsonl
port = $(($1 + 2))
[agent a4]
script = a4.jsonl
port = $(($1 + 3))
C
}
start_up conf
base=$BASE

# phase 1: 40 queries, routes vs metrics
/usr/bin/python3 "$NL" "$E" --n 40 --concurrency 8 --levels 4 --query 'q{i} L{l}' --out p1.jsonl >p1.sum || fail "load 1"
/usr/bin/python3 - <<'PY' || fail "phase 1 routes"
import json
rs = [json.loads(l) for l in open("p1.jsonl")]
assert len(rs) == 40 and all(r["status"] == 200 for r in rs), "not all answered"
for r in rs:
    lvl = r["i"] % 4 + 1
    d = r["reply"]["disr"]
    assert d["answerer"] == f"a{lvl}", (r["i"], d)
    assert [h["agent"] for h in d["route"]] == [f"a{k}" for k in range(1, lvl + 1)], d
    assert r["reply"]["choices"][0]["message"]["content"] == f"answer by a{lvl}"
PY
ports=($base $((base + 1)) $((base + 2)) $((base + 3)))
for k in 1 2 3 4; do
    u="http://127.0.0.1:${ports[k-1]}"
    want_ans=$(grep -c "\"answerer\": \"a$k\"" p1.jsonl)
    want_rej=$(grep -o "\"agent\": \"a$k\", \"decision\": \"reject\"" p1.jsonl | wc -l)
    [ "$(metric "$u" disr_answers_total)" = "$want_ans" ] || fail "a$k answers: metrics $(metric "$u" disr_answers_total) vs routes $want_ans"
    [ "$(metric "$u" disr_rejects_total)" = "$want_rej" ] || fail "a$k rejects: metrics vs routes $want_rej"
done

out=$("$DISR" ask "an L3 question" --url "$E" --alpha 0.2) || fail "disr ask failed"
echo "$out" | grep -q "answered by a3, cost 0.63" || fail "disr ask: $out"

# phase 2: kill a2 while 200 concurrent queries are in flight
/usr/bin/python3 "$NL" "$E" --n 200 --concurrency 200 --levels 4 --query 'k{i} L{l}' --out p2.jsonl >p2.sum &
LOAD=$!
# kill a2 once it is busy with queries (its in-flight gauge), so some die with it
for _ in $(seq 200); do
    [ "$(metric "http://127.0.0.1:$((base + 1))" disr_requests_in_flight)" -ge 10 ] 2>/dev/null && break
    sleep 0.02
done
kill -9 "$(awk '$2 == "a2" {print $1}' net.conf.pid)"
wait $LOAD || fail "load 2"
/usr/bin/python3 - <<'PY' || fail "phase 2"
import json, collections
rs = [json.loads(l) for l in open("p2.jsonl")]
ids = collections.Counter(r["reply"]["id"] for r in rs if r["status"] == 200)
assert len(rs) == 200, f"{len(rs)} results"
bad = [r for r in rs if r["status"] != 200]
assert not bad, f"{len(bad)} failed: {bad[:2]}"
assert len(ids) == 200 and max(ids.values()) == 1, "duplicate reply ids"
assert sorted(r["i"] for r in rs) == list(range(200)), "lost or duplicated queries"
skips = 0
for r in rs:
    lvl = r["i"] % 4 + 1
    d = r["reply"]["disr"]
    ans = int(d["answerer"][1:])
    assert ans >= lvl, ("answered below its level", d)
    route = d["route"]
    skipped = [h for h in route if h["decision"] == "skipped"]
    skips += bool(skipped)
    if skipped: assert ans != 2 and lvl >= 2, d
    assert [h["decision"] for h in route].count("answer") + [h["decision"] for h in route].count("fallback") == 1, d
assert skips > 0, "no route shows the skip of the killed agent"
print(f"phase 2: 200/200 answered once, {skips} routes skip the killed agent")
PY
"$DISR" up --down net.conf >/dev/null || fail "disr up --down"
for _ in $(seq 50); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$UP_PID" 2>/dev/null && fail "disr up still running after --down"
[ -e net.conf.pid ] && fail "pid file left behind"
curl -s --max-time 1 "$E/health" >/dev/null && fail "entry still answering after --down"
echo "up_chain: ok"
