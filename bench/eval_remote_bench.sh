#!/usr/bin/env bash
# Collecting an outcome table over HTTP against in process, side by side in one run: a quick
# family (4 agents) collected by `disr eval --agents` from the GGUF files (2 lanes of 1 thread)
# and from 4 `disr serve` nodes on loopback (1 compute thread, 4 slots each), on the same
# queries; prints the seconds and queries/s of each collection and checks that the two tables
# are equal. Record the result in docs/MODELS.md ("Tests and current figures").
# Usage: bench/eval_remote_bench.sh [build/disr] [queries per split, default 100]
set -eu
DISR_BIN=$(realpath "${1:-build/disr}")
N=${2:-100}
HERE=$(realpath "$(dirname "$0")")
source "$HERE/../tests/e2e/lib_net.bash"
cd "$TMP"
"$DISR" world --quick --seed 3 --out w >/dev/null
"$DISR" zoo --quick --world w --out z --threads 1 --steps-scale 0.05 >/dev/null 2>&1
Q=(--sa-train w/sa_train.jsonl --data w/test.jsonl --ood w/ood.jsonl --limit "$N" --quick
   --no-plots)
URLS=""
for i in 0 1 2 3; do
    spawn "a$i" "$DISR" serve --model "z/agent$i.gguf" --name "agent$i" --mode always --threads 1 \
        --slots 4 --port 0 --port-file "$TMP/a$i.port" --quiet
    URLS="$URLS${URLS:+,}http://127.0.0.1:$(wait_port "$TMP/a$i.port")"
done
nq=0
for f in w/sa_train.jsonl w/test.jsonl w/ood.jsonl; do
    n=$(wc -l <"$f")
    nq=$((nq + (n < N ? n : N)))
done
t0=$(date +%s.%N)
"$DISR" eval --agents z/agent0.gguf,z/agent1.gguf,z/agent2.gguf,z/agent3.gguf "${Q[@]}" \
    --threads 1 --lanes 2 --out local >/dev/null 2>local.err || { cat local.err; exit 1; }
t1=$(date +%s.%N)
"$DISR" eval --agents "$URLS" "${Q[@]}" --lanes 2 --concurrency 4 --out remote >/dev/null 2>remote.err ||
    { cat remote.err; exit 1; }
t2=$(date +%s.%N)
/usr/bin/python3 - "$nq" "$t0" "$t1" "$t2" <<'PY'
import json, sys
nq, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:])
def cells(p):
    return {(o["qid"], o["agent"]): (o["forced"], o["correct"], o["conf"], o["verify"])
            for o in map(json.loads, open(p))}
same = cells("local/outcomes.jsonl") == cells("remote/outcomes.jsonl")
print("| collection (4 agents, %d queries, k = 8, with the report) | seconds | queries/s |" % nq)
print("| --- | ---: | ---: |")
print("| in process, 2 lanes of 1 thread | %.1f | %.1f |" % (t1 - t0, nq / (t1 - t0)))
print("| 4 `disr serve` nodes on loopback, 2 agents at once, 4 requests in flight each | %.1f | %.1f |"
      % (t2 - t1, nq / (t2 - t1)))
print("tables equal: %s" % ("yes" if same else "NO"))
sys.exit(0 if same else 1)
PY
