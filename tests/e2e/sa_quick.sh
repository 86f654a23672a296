#!/usr/bin/env bash
# Self-awareness training end to end on a tiny model, in seconds: a quick world, a tiny agent
# pretrained for a few steps, then sa-sft, sa-rl (both also interrupted and resumed, which must
# give byte-identical files), the last-agent paths, and sa-report with its JSON. Checks that
# every output is a valid GGUF and that bad input fails with a clear message.
set -euo pipefail
DISR=${DISR_BIN:-build/disr}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
export OPENBLAS_NUM_THREADS=1

"$DISR" world --quick --seed 5 --out "$D/w" >/dev/null
"$DISR" train --data "$D/w/pretrain.txt" --steps 30 --embd 32 --layers 1 --heads 2 --kv-heads 2 \
    --ff 64 --ctx 192 --seq 64 --batch 8 --out "$D/a.gguf" >/dev/null 2>&1
SA="$D/w/sa_train.jsonl"

# Stage 1, uninterrupted and interrupted + resumed: same bytes.
"$DISR" sa-sft --agent "$D/a.gguf" --data "$SA" --out "$D/s.gguf" --quick >"$D/sft.log" 2>&1
grep -q "held-out check" "$D/sft.log"
"$DISR" sa-sft --agent "$D/a.gguf" --data "$SA" --out "$D/s2.gguf" --quick --stop-after 12 \
    --checkpoint-every 5 >/dev/null 2>&1
[ -f "$D/s2.gguf.ckpt" ] && [ ! -f "$D/s2.gguf" ]
"$DISR" sa-sft --agent "$D/a.gguf" --data "$SA" --out "$D/s2.gguf" --quick --resume \
    --checkpoint-every 5 >/dev/null 2>&1
cmp "$D/s.gguf" "$D/s2.gguf"
"$DISR" info "$D/s.gguf" >/dev/null

# Stage 2, the same.
"$DISR" sa-rl --agent "$D/s.gguf" --data "$SA" --out "$D/r.gguf" --quick >"$D/rl.log" 2>&1
grep -q "reward" "$D/rl.log" && grep -q "broken rejects" "$D/rl.log"
# The decision credit rule runs too; a rule the command does not know is refused by name.
"$DISR" sa-rl --agent "$D/s.gguf" --data "$SA" --out "$D/rd.gguf" --quick --reject-credit decision \
    >/dev/null 2>&1
"$DISR" info "$D/rd.gguf" >/dev/null
if "$DISR" sa-rl --agent "$D/s.gguf" --data "$SA" --out "$D/bad.gguf" --quick \
    --reject-credit first 2>"$D/err"; then
    exit 1
fi
grep -q "'first'" "$D/err" && [ ! -f "$D/bad.gguf" ]
"$DISR" sa-rl --agent "$D/s.gguf" --data "$SA" --out "$D/r2.gguf" --quick --stop-after 3 \
    >/dev/null 2>&1
[ -f "$D/r2.gguf.ckpt" ] && [ ! -f "$D/r2.gguf" ]
"$DISR" sa-rl --agent "$D/s.gguf" --data "$SA" --out "$D/r2.gguf" --quick --resume >/dev/null 2>&1
cmp "$D/r.gguf" "$D/r2.gguf"
"$DISR" info "$D/r.gguf" >/dev/null

# The last agent: answer-only SFT, RL copies.
"$DISR" sa-sft --agent "$D/a.gguf" --data "$SA" --out "$D/l.gguf" --quick --last >"$D/last.log" 2>&1
grep -q "answer-only" "$D/last.log"
"$DISR" sa-rl --agent "$D/l.gguf" --data "$SA" --out "$D/lr.gguf" --last >/dev/null 2>&1
"$DISR" info "$D/lr.gguf" >/dev/null

# The report: two agents in a chain, RL against SFT, JSON that parses.
"$DISR" sa-report --agents "$D/r.gguf,$D/lr.gguf" --compare "$D/s.gguf,$D/l.gguf" \
    --base "$D/a.gguf,$D/a.gguf" --data "$D/w/test.jsonl" --limit 40 --json "$D/rep.json" \
    --queries "$D/rep.jsonl" >"$D/rep.md" 2>/dev/null
grep -q "| agents | balance" "$D/rep.md"
grep -q "| compare | cost" "$D/rep.md"
/usr/bin/python3 - "$D/rep.json" "$D/rep.jsonl" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
# per-query records: 40 queries for each of 2 agents, 2 compared, 2 base; they add up to the
# report's counts
q = [json.loads(l) for l in open(sys.argv[2])]
assert len(q) == 6 * 40 and {x["set"] for x in q} == {"agents", "compare", "base"}
for a, name in zip(r["agents"], [x["agent"] for x in q if x["set"] != "base"][::40]):
    mine = [x for x in q if x["agent"] == name and x["set"] != "base"][:40]
    assert abs(a["forced_accuracy"] - sum(x["forced_right"] for x in mine) / 40) < 1e-9
    for s in ("performance", "balance", "cost"):
        assert a[s]["answered"] == sum(x[s] != "reject" for x in mine)
        assert a[s]["answered_right"] == sum(x[s] == "right" for x in mine)
assert len(r["agents"]) == 4 and len(r["chain"]) == 6
for a in r["agents"]:
    assert a["f1_truth"] == "base"
    for s in ("performance", "balance", "cost"):
        sc = a[s]
        assert 0 <= sc["broken_rejects"] <= 40
        # the reward is the paper's: between 0 and 1, and a reject-everything agent earns the bar
        assert 0.0 <= sc["reward"] <= 1.0
        if sc["answer_rate"] == 0:
            assert abs(sc["reward"] - sc["threshold"]) < 1e-9
        # precision's counts agree with the rates, and its interval holds it
        assert sc["answered"] == round(sc["answer_rate"] * 40)
        assert 0 <= sc["answered_right"] <= sc["answered"]
        lo, hi = sc["precision_95"]
        if sc["answered"]:
            assert abs(sc["precision"] - sc["answered_right"] / sc["answered"]) < 1e-9
            assert 0 <= lo <= sc["precision"] <= hi <= 1 and hi - lo > 0
        else:
            assert (lo, hi) == (0, 1)
PY

# scripts/sa_diff.py recomputes F1 and reward from the per-query records in Python: the same
# figures as the report's own (C) for both trained sets.
/usr/bin/python3 scripts/sa_diff.py "$D/rep.jsonl" >"$D/diff.md"
/usr/bin/python3 - "$D/rep.json" "$D/diff.md" <<'PY'
import json, re, sys
r = {a["agent"]: a for a in json.load(open(sys.argv[1]))["agents"]}
rows = [l.split("|") for l in open(sys.argv[2]) if re.match(r"\| \S+ vs ", l)]
assert len(rows) == 6, rows
for row in rows:
    new, old = row[1].strip().split(" vs ")
    s = row[2].strip()
    f_old, f_new = (float(x) for x in row[5].split("→"))
    w_old, w_new = (float(x) for x in row[6].split("→"))
    for name, f, w in ((old, f_old, w_old), (new, f_new, w_new)):
        assert abs(r[name][s]["f1"] - f) < 6e-4 and abs(r[name][s]["reward"] - w) < 6e-4, row
PY

# Bad input: a clear message and a non-zero exit, nothing written.
printf '{"id":"x","query":"q"}\n' >"$D/bad.jsonl"
if "$DISR" sa-sft --agent "$D/a.gguf" --data "$D/bad.jsonl" --out "$D/bad.gguf" 2>"$D/err"; then
    exit 1
fi
grep -q "bad.jsonl" "$D/err" && [ ! -f "$D/bad.gguf" ]
if "$DISR" sa-rl --agent "$D/missing.gguf" --data "$SA" --out "$D/bad.gguf" 2>"$D/err"; then
    exit 1
fi
grep -q "missing.gguf" "$D/err"
"$DISR" quantize "$D/a.gguf" "$D/q8.gguf" --type q8_0 >/dev/null 2>&1
if "$DISR" sa-sft --agent "$D/q8.gguf" --data "$SA" --out "$D/bad.gguf" 2>"$D/err"; then
    exit 1
fi
grep -q "quantized" "$D/err" && [ ! -f "$D/bad.gguf.samples.jsonl" ]
echo "sa e2e ok"
