#!/usr/bin/env bash
# disr eval end to end: a synthetic outcome table -> report directory; every number recomputes
# from the raw records (tests/e2e/eval_check.py, an independent Python reference); the report
# reproduces from the outcomes it saved; bad input fails with a clear message.
set -eu
source "$(dirname "$0")/lib_skip.bash"
DISR_BIN=${DISR_BIN:-build/disr}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$DISR_BIN" eval --help | grep -q -- "--outcomes"

"$DISR_BIN" eval --synthetic 300 --quick --out "$tmp/a" >"$tmp/a.out" 2>"$tmp/a.err" ||
    { cat "$tmp/a.err"; exit 1; }
grep -q "DiSRouter (+RL)" "$tmp/a.out"
for f in report.md summary.json records.jsonl outcomes.jsonl fitted.jsonl; do test -s "$tmp/a/$f"; done
if command -v gnuplot >/dev/null; then
    for p in utility_alpha_test utility_alpha_ood routing_share answer_rate easy_hard_cost sa_f1 \
        level_accuracy; do
        head -c 8 "$tmp/a/$p.png" | grep -q PNG || { echo "missing plot $p.png"; exit 1; }
    done
else
    skip_part gnuplot "gnuplot not installed: the plots are not checked"
fi
/usr/bin/python3 "$here/eval_check.py" "$tmp/a"

# A label leak planted three ways into a copy of that report; the recomputation from the fitted
# parameters catches each (the message names the check): the kNN router's test picks replaced by
# the cheapest correct agent; its predictions replaced by the test labels (and its picks made to
# follow them); a test query among a query's neighbours.
plant() {
    rm -rf "$tmp/p" && cp -r "$tmp/a" "$tmp/p"
    /usr/bin/python3 - "$tmp/p" "$1" <<'PY'
import json, sys
d, leak = sys.argv[1], sys.argv[2]
cells = {}
for line in open(f"{d}/outcomes.jsonl"):
    o = json.loads(line)
    cells.setdefault(o["qid"], {})[o["agent"]] = o
K = len(next(iter(cells.values())))
cost = [cells[next(iter(cells))][a]["cost"] for a in range(K)]
fitted = [json.loads(l) for l in open(f"{d}/fitted.jsonl")]
if leak == "predictions":
    for o in fitted:
        o["knn_p"] = [float(bool(cells[o["qid"]][a]["correct"])) for a in range(K)]
if leak == "neighbours":
    fitted[0]["knn_neighbours"][0] = fitted[1]["qid"]
p_of = {o["qid"]: o["knn_p"] for o in fitted}
recs = [json.loads(l) for l in open(f"{d}/records.jsonl")]
for r in recs:
    if r["method"] != "knn_router" or r["split"] != "test" or r["chain"] != ",".join(map(str, range(K))):
        continue
    q = r["qid"]
    if leak == "picks":
        a = next((a for a in range(K) if cells[q][a]["correct"]), 0)
    else:
        a = max(range(K), key=lambda a: (p_of[q][a] - r["alpha"] * cost[a], -a))
    r.update(agent=a, correct=int(bool(cells[q][a]["correct"])), cost=cost[a])
open(f"{d}/records.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in recs))
open(f"{d}/fitted.jsonl", "w").write("".join(json.dumps(o) + "\n" for o in fitted))
PY
}
for leak in "picks:knn_router routes" "predictions:does not follow from its neighbours" \
    "neighbours:outside the training split"; do
    plant "${leak%%:*}"
    if /usr/bin/python3 "$here/eval_check.py" "$tmp/p" 2>"$tmp/p.err"; then
        echo "a planted label leak (${leak%%:*}) passed the check"; exit 1
    fi
    grep -q "${leak#*:}" "$tmp/p.err" || { echo "leak ${leak%%:*}: wrong failure"; cat "$tmp/p.err"; exit 1; }
done
# A correct report whose printed numbers sit on a rounding edge (0.3765 printed as 0.377).
"$DISR_BIN" eval --synthetic 400 --quick --no-plots --out "$tmp/r" >/dev/null 2>"$tmp/r.err" ||
    { cat "$tmp/r.err"; exit 1; }
grep -q "| Random | [0-9.]* | [0-9.]* | [0-9.]* | 0.377 |" "$tmp/r/report.md"
/usr/bin/python3 "$here/eval_check.py" "$tmp/r" >/dev/null

# The saved outcome table reproduces the same numbers.
"$DISR_BIN" eval --outcomes "$tmp/a/outcomes.jsonl" --quick --no-plots --out "$tmp/b" \
    >/dev/null 2>"$tmp/b.err" || { cat "$tmp/b.err"; exit 1; }
cmp -s "$tmp/a/summary.json" "$tmp/b/summary.json" || { echo "summary differs on reload"; exit 1; }
cmp -s "$tmp/a/records.jsonl" "$tmp/b/records.jsonl" || { echo "records differ on reload"; exit 1; }

# Queries without a difficulty level (a user's data): the per-level section says so, the rest of
# the report is unchanged, and the check still passes.
grep -q '"difficulty":' "$tmp/a/outcomes.jsonl"
sed 's/,"difficulty":[0-9]*//' "$tmp/a/outcomes.jsonl" >"$tmp/nolevel.jsonl"
"$DISR_BIN" eval --outcomes "$tmp/nolevel.jsonl" --quick --no-plots --out "$tmp/n" \
    >/dev/null 2>"$tmp/n.err" || { cat "$tmp/n.err"; exit 1; }
grep -q "carry no difficulty level" "$tmp/n/report.md"
cmp -s "$tmp/a/records.jsonl" "$tmp/n/records.jsonl" || { echo "records differ without levels"; exit 1; }
/usr/bin/python3 "$here/eval_check.py" "$tmp/n" >/dev/null

# Bad input: a clear message naming the file and line, exit code 1; usage errors exit 2.
printf '{"qid":"x","split":"test","agent":0,"correct":1}\n{"qid":"x","split":"nope","agent":1,"correct":1}\n' >"$tmp/bad.jsonl"
set +e
"$DISR_BIN" eval --outcomes "$tmp/bad.jsonl" --out "$tmp/c" 2>"$tmp/c.err"
rc=$?
"$DISR_BIN" eval --out "$tmp/d" 2>/dev/null
rc2=$?
set -e
[ "$rc" -eq 1 ] && grep -q "bad.jsonl:2" "$tmp/c.err" || { echo "bad outcomes: rc $rc"; cat "$tmp/c.err"; exit 1; }
[ "$rc2" -eq 2 ] || { echo "missing input: rc $rc2"; exit 1; }
# Real (tiny) GGUF agents run in process: the collector records the outcome table, the report
# recomputes from it, and the recorded table reproduces the report without the agents. The test
# queries carry levels, the OOD ones none: the levels pass through and OOD says it has none.
/usr/bin/python3 tests/golden/gguf_reference.py write-model "$tmp/m.gguf" llama
for s in sa te ood; do
    for i in 0 1 2 3 4 5; do
        level=""
        [ "$s" = te ] && level=",\"difficulty\":$((i % 3 + 1))"
        printf '{"id":"%s%d","family":"add","query":"%d+%d=","answer":"%d","grader":"number"%s}\n' \
            "$s" "$i" "$i" "$((i + 1))" "$((2 * i + 1))" "$level"
    done >"$tmp/$s.jsonl"
done
"$DISR_BIN" eval --agents "$tmp/m.gguf,$tmp/m.gguf" --sft "$tmp/m.gguf,-" --rl "$tmp/m.gguf,-" \
    --sa-train "$tmp/sa.jsonl" --data "$tmp/te.jsonl" --ood "$tmp/ood.jsonl" --max-tokens 6 \
    --verify-samples 2 --threads 1 --quick --no-plots --out "$tmp/e" >/dev/null 2>"$tmp/e.err" ||
    { cat "$tmp/e.err"; exit 1; }
grep -q '"sft_answer"' "$tmp/e/outcomes.jsonl"
[ "$(grep -c '"qid":"te5".*"difficulty":3' "$tmp/e/outcomes.jsonl")" -eq 2 ] ||
    { echo "collected outcomes lack the test queries' levels"; exit 1; }
if grep -q '"qid":"ood[0-9]*".*"difficulty"' "$tmp/e/outcomes.jsonl"; then
    echo "OOD queries without a level gained one"; exit 1
fi
sed -n '/^### Out-of-domain/,/^#/p' "$tmp/e/report.md" | grep -q "These queries carry no difficulty level"
/usr/bin/python3 "$here/eval_check.py" "$tmp/e" >/dev/null
"$DISR_BIN" eval --outcomes "$tmp/e/outcomes.jsonl" --quick --no-plots --out "$tmp/f" >/dev/null 2>&1
cmp -s "$tmp/e/summary.json" "$tmp/f/summary.json" || { echo "collected summary differs on reload"; exit 1; }
# --lanes 2: both agents collected at once; the same table, timings aside
"$DISR_BIN" eval --agents "$tmp/m.gguf,$tmp/m.gguf" --sft "$tmp/m.gguf,-" --rl "$tmp/m.gguf,-" \
    --sa-train "$tmp/sa.jsonl" --data "$tmp/te.jsonl" --ood "$tmp/ood.jsonl" --max-tokens 6 \
    --verify-samples 2 --threads 1 --lanes 2 --quick --no-plots --out "$tmp/l" >/dev/null 2>"$tmp/l.err" ||
    { cat "$tmp/l.err"; exit 1; }
/usr/bin/python3 - "$tmp/e/outcomes.jsonl" "$tmp/l/outcomes.jsonl" <<'PY'
import json, sys
def cells(path):
    rows = [json.loads(l) for l in open(path)]
    return [{k: v for k, v in r.items() if not k.startswith("t_")} for r in rows]
a, b = cells(sys.argv[1]), cells(sys.argv[2])
assert len(a) == len(b) and a == b, "outcome tables differ between --lanes 1 and 2"
PY
set +e
"$DISR_BIN" eval --agents "$tmp/m.gguf" --sft "$tmp/m.gguf,$tmp/m.gguf" --data "$tmp/te.jsonl" \
    --out "$tmp/g" 2>/dev/null
rc3=$?
"$DISR_BIN" eval --agents "$tmp/m.gguf" --data "$tmp/te.jsonl" --ood "$tmp/te.jsonl" --out "$tmp/g" 2>"$tmp/g.err"
rc4=$?
set -e
[ "$rc3" -eq 2 ] || { echo "mismatched --sft list: rc $rc3"; exit 1; }
[ "$rc4" -eq 1 ] && grep -q "appears twice" "$tmp/g.err" || { echo "duplicate ids: rc $rc4"; exit 1; }
skip_report
echo "eval e2e ok"
