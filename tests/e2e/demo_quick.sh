#!/usr/bin/env bash
# disr demo --quick from a directory of its own, with a relative work directory (as the README
# runs it): every stage runs, the chain comes up as live processes, the report and the network
# check are written, the utility table is printed; a second run reuses every finished stage.
# Skipped in the sanitizer build, by design (allowed in tests/run.sh): the training stages would
# take most of CI's budget there, and every module the demo drives has its own sanitized tests.
set -eu
source "$(dirname "$0")/lib_skip.bash"
DISR=${DISR_BIN:-build/disr}
[ "${SAN:-0}" = 1 ] && skip san "the demo's training stages are too slow under the sanitizer"
tmp=$(mktemp -d /tmp/disr_e2e_demo.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
port=$((20000 + RANDOM % 20000))
cd "$tmp"
"$DISR" demo --quick --dir d --port "$port" >out1 2>log1 || { tail -n 40 log1; exit 1; }
for f in d/report/report.md d/report/outcomes.jsonl d/report/network.md d/network.conf; do
    [ -s "$f" ] || { echo "missing $f"; exit 1; }
done
grep -q 'tility' out1 || { echo "no utility table printed"; cat out1; exit 1; }
grep -q 'DiSRouter' out1 || { echo "no DiSRouter row"; cat out1; exit 1; }
# the network check sent every query through the live entry node
grep -qi 'agree' d/report/network.md || { echo "network.md lacks the agreement line"; cat d/report/network.md; exit 1; }
# both self-awareness stages ran once per agent (two agents at a time) and left their models
[ "$(grep -c '^\$ disr sa-sft' log1)" = 4 ] || { echo "sa-sft did not run once per agent"; exit 1; }
[ "$(grep -c '^\$ disr sa-rl' log1)" = 4 ] || { echo "sa-rl did not run once per agent"; exit 1; }
for i in 0 1 2 3; do
    for s in sft rl; do [ -s "d/sa/agent$i-$s.gguf" ] || { echo "missing d/sa/agent$i-$s.gguf"; exit 1; }; done
done
t0=$SECONDS
"$DISR" demo --quick --dir d --port "$port" >out2 2>log2 || { tail -n 40 log2; exit 1; }
grep -q 'reusing' log2 || { echo "second run did not reuse finished stages"; exit 1; }
echo "second run: $((SECONDS - t0)) s"
grep -q '^\$ disr sa-' log2 && { echo "second run trained again"; exit 1; }
# the stages left to do are found per agent: only agent0's SFT and RL and agent2's RL run again
rm d/sa/agent0-sft.gguf d/sa/agent0-rl.gguf d/sa/agent2-rl.gguf
"$DISR" demo --quick --dir d --port "$port" >out3 2>log3 || { tail -n 40 log3; exit 1; }
[ "$(grep -c '^\$ disr sa-' log3)" = 3 ] || { echo "expected 3 stages to rerun:"; grep '^\$ disr sa-' log3; exit 1; }
for f in d/sa/agent0-sft.gguf d/sa/agent0-rl.gguf d/sa/agent2-rl.gguf; do
    [ -s "$f" ] || { echo "missing $f after the rerun"; exit 1; }
done
# --seeds: the demo per seed in DIR/seedN (seed 1 is the run above, reused), then one table
mkdir -p s && ln -s ../d s/seed1
"$DISR" demo --quick --dir s --seeds 1,2 --port "$port" >out4 2>log4 || { tail -n 40 log4; exit 1; }
[ -s s/seed2/report/summary.json ] || { echo "seed 2 not run"; exit 1; }
/usr/bin/python3 - s <<'PY'
import json, sys
d = sys.argv[1]
runs = json.load(open(f"{d}/seeds.json"))["runs"]
assert [r["seed"] for r in runs] == [1, 2], runs
md = open(f"{d}/seeds.md").read()
for i, r in enumerate(runs):
    s = json.load(open(f"{d}/seed{r['seed']}/report/summary.json"))
    # each seed's verdicts and utilities are its own report's
    assert r["claims_hold"] == [c["holds"] for c in s["claims"]], (r["seed"], r["claims_hold"])
    assert r["utility"] == [s["tables"]["test"]["disr_rl"][a]["utility"] for a in ("0.2", "0.5", "0.8")]
    for c in s["claims"]:
        assert c["claim"] in md, c["claim"]
assert "| claim | seed 1 | seed 2 |" in md, md
PY
echo "demo_quick e2e ok"
