#!/usr/bin/env bash
# disr zoo --quick: trains a tiny 4-agent family, writes the GGUFs and zoo.json (costs 0.1 ..
# 0.9, sizes rising, per-family and per-level accuracy), disr score on an agent agrees with the
# manifest, a rerun skips finished agents and retrains only a missing one, and --lanes 2 trains
# the same agents as one lane. The mechanics need no accuracy: the steps are cut to 5 %.
set -eu
DISR=${DISR_BIN:-build/disr}
tmp=$(mktemp -d /tmp/disr_e2e_zoo.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$DISR" zoo --help >/dev/null
"$DISR" world --quick --seed 3 --out "$tmp/w" >/dev/null
"$DISR" zoo --quick --world "$tmp/w" --out "$tmp/z" --threads 1 --steps-scale 0.05 >"$tmp/out1" 2>"$tmp/log1" ||
    { cat "$tmp/log1"; exit 1; }
for i in 0 1 2 3; do [ -s "$tmp/z/agent$i.gguf" ] || { echo "no agent$i.gguf"; exit 1; }; done
ls "$tmp/z" | grep -q ckpt && { echo "checkpoints left behind"; exit 1; }
/usr/bin/python3 - "$tmp/z/zoo.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
a = m["agents"]
assert [x["name"] for x in a] == ["agent0", "agent1", "agent2", "agent3"], a
costs = [x["cost"] for x in a]
assert all(abs(c - w) < 1e-9 for c, w in zip(costs, [0.1, 0.1 + 0.8 / 3, 0.1 + 1.6 / 3, 0.9])), costs
p = [x["params"] for x in a]
assert all(p[i + 1] > 1.3 * p[i] for i in range(3)), p  # sizes rising
for x in a:
    assert set(x["test"]["families"]) == {"fact", "mc", "add", "read", "hop", "sort"}, x["test"]
    assert set(x["ood"]["families"]) == {"mchop", "readlong", "distract", "secret"}, x["ood"]
    assert x["train_tokens"] > 0 and x["final_loss"] < 4.5
    assert x["train_tokens_per_s"] > 0, x
    for split in ("test", "ood"):
        lv = x[split]["levels"]
        assert sorted(lv) == ["1", "2", "3", "4"], lv
        assert sum(v["n"] for v in lv.values()) == x[split]["n"], lv
        assert sum(v["correct"] for v in lv.values()) == x[split]["correct"], lv
PY
# disr score on agent3 reproduces the manifest's in-domain accuracy
"$DISR" score -m "$tmp/z/agent3.gguf" --data "$tmp/w/test.jsonl" --quiet \
    --replies "$tmp/replies.jsonl" >"$tmp/score"
got=$(awk '$1 == "all" {print $3}' "$tmp/score")
want=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["agents"][3]["test"]["correct"])' "$tmp/z/zoo.json")
[ "$got" = "$want" ] || { echo "score says $got correct, manifest $want"; cat "$tmp/score"; exit 1; }
# --replies: one line per test item, in order, with the reply; the grades sum to the score
/usr/bin/python3 - "$tmp/w/test.jsonl" "$tmp/replies.jsonl" "$got" <<'PY'
import json, sys
items = [json.loads(l) for l in open(sys.argv[1])]
graded = [json.loads(l) for l in open(sys.argv[2])]
assert [g["id"] for g in graded] == [i["id"] for i in items], "replies out of order"
assert all(isinstance(g["reply"], str) and isinstance(g["correct"], bool) for g in graded)
assert sum(g["correct"] for g in graded) == int(sys.argv[3]), "grades disagree with the score"
PY
# resume: a finished family is skipped; a missing agent is retrained alone
rm "$tmp/z/agent2.gguf"
"$DISR" zoo --quick --world "$tmp/w" --out "$tmp/z" --threads 1 --steps-scale 0.05 >"$tmp/out2" 2>"$tmp/log2"
grep -q "agent0 already trained" "$tmp/log2" && grep -q "agent3 already trained" "$tmp/log2" &&
    grep -q "zoo: agent2: " "$tmp/log2" || { echo "resume:"; cat "$tmp/log2"; exit 1; }
[ -s "$tmp/z/agent2.gguf" ] || { echo "agent2 not retrained"; exit 1; }
/usr/bin/python3 - "$tmp/out1" "$tmp/out2" <<'PY'
import sys
rows = [[l.split()[:4] + l.split()[5:] for l in open(f) if l.startswith("agent")] for f in sys.argv[1:]]
assert rows[0] == rows[1], rows  # same seed: the retrained agent2 scores exactly the same
PY
# --rescore: the trained agents are scored on a changed test set (its first 12 queries only)
# and keep their training record; nothing is retrained.
head -n 12 "$tmp/w/test.jsonl" >"$tmp/t12" && mv "$tmp/t12" "$tmp/w/test.jsonl"
"$DISR" zoo --quick --world "$tmp/w" --out "$tmp/z" --threads 1 --steps-scale 0.05 --rescore >/dev/null 2>"$tmp/log3"
grep -q "agent3 already trained, scoring it again" "$tmp/log3" && ! grep -q "zoo: agent[0-3]: " "$tmp/log3" ||
    { echo "rescore:"; cat "$tmp/log3"; exit 1; }
/usr/bin/python3 - "$tmp/z/zoo.json" <<'PY'
import json, sys
for x in json.load(open(sys.argv[1]))["agents"]:
    assert x["test"]["n"] == 12 and x["train_seconds"] > 0, x["name"]
PY
# --lanes 2: the same agents, trained two at a time in child processes, byte for byte
"$DISR" zoo --quick --world "$tmp/w" --out "$tmp/zl" --steps-scale 0.05 --lanes 2 >/dev/null 2>"$tmp/log4" ||
    { cat "$tmp/log4"; exit 1; }
for i in 0 1 2 3; do
    cmp -s "$tmp/z/agent$i.gguf" "$tmp/zl/agent$i.gguf" || { echo "lanes: agent$i differs"; exit 1; }
done
/usr/bin/python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["agents"]; assert [x["name"] for x in a]==["agent0","agent1","agent2","agent3"], a' "$tmp/zl/zoo.json"
# bad use
rc=0; "$DISR" zoo --quick --world "$tmp/nothing" --out "$tmp/z2" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "pretrain.txt" "$tmp/err" || { echo "missing world: rc $rc"; exit 1; }
rc=0; "$DISR" zoo --quick --world "$tmp/w" --out "$tmp/z2" --agents 9 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || { echo "--agents 9: rc $rc"; exit 1; }
echo "zoo e2e ok"
