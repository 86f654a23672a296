#!/usr/bin/env bash
# The network benchmark (issue 5): added latency per hop on loopback, time to first token
# through a 4-hop chain of tiny GGUF agents, and requests/s of one node under 64 concurrent
# clients. Needs wrk (scripts/install-deps.sh). Prints a Markdown table; record it in
# docs/NETWORK.md ("Current figures"). Usage: bench/net_bench.sh [build/disr]
# BENCH_NO_MODEL=1 stops before the GGUF part; BENCH_DEBUG=1 shows every wrk report.
set -u
DISR_BIN=$(realpath "${1:-build/disr}")
export DISR_BIN
HERE=$(realpath "$(dirname "$0")")
source "$HERE/../tests/e2e/lib_net.bash"
command -v wrk >/dev/null || { echo "wrk not installed (scripts/install-deps.sh)"; exit 1; }
cd "$TMP"
cat >post.lua <<'L'
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
L
body() { echo "{\"messages\":[{\"role\":\"user\",\"content\":\"$1\"}],\"max_tokens\":${2:-16}}"; }
# wrk_run URL BODY THREADS CONNS SECONDS -> "p50_ms rps"
wrk_run() {
    BODY=$2 wrk -t"$3" -c"$4" -d"$5"s --latency -s post.lua "$1/v1/chat/completions" >wrk.out 2>&1
    [ -n "${BENCH_DEBUG:-}" ] && cat wrk.out >&2
    local p50 rps
    p50=$(awk '/Latency Distribution/ {f=1} f && $1 == "50%" {print $2; exit}' wrk.out)
    rps=$(awk '/^Requests\/sec:/ {print $2}' wrk.out)
    grep -q "Non-2xx" wrk.out && { cat wrk.out >&2; echo "non-2xx responses" >&2; }
    # wrk prints 123.45us / 1.23ms / 1.23s
    /usr/bin/python3 -c "import re,sys; n,u=re.fullmatch(r'([0-9.]+)(us|ms|s)',sys.argv[1]).groups(); print(f'{float(n)*{\"us\":1e-3,\"ms\":1,\"s\":1e3}[u]:.3f} {sys.argv[2]}')" "$p50" "$rps"
}

# 1. per-hop latency: four scripted agents (instant decisions), one client, keep-alive
cat >s1.jsonl <<'J'
{"contains":"L2","reply":"I don't know!"}
{"contains":"L3","reply":"I don't know!"}
{"contains":"L4","reply":"I don't know!"}
{"reply":"ok"}
J
cat >s2.jsonl <<'J'
{"contains":"L3","reply":"I don't know!"}
{"contains":"L4","reply":"I don't know!"}
{"reply":"ok"}
J
cat >s3.jsonl <<'J'
{"contains":"L4","reply":"I don't know!"}
{"reply":"ok"}
J
echo '{"reply":"ok"}' >s4.jsonl
start_node s4 0.9 always s4.jsonl; P4=$PORT
start_node s3 0.63 trained s3.jsonl --next "http://127.0.0.1:$P4"; P3=$PORT
start_node s2 0.37 trained s2.jsonl --next "http://127.0.0.1:$P3,http://127.0.0.1:$P4"; P2=$PORT
start_node s1 0.1 trained s1.jsonl --next "http://127.0.0.1:$P2,http://127.0.0.1:$P3,http://127.0.0.1:$P4"; P1=$PORT
declare -A lat
for l in 1 2 3 4; do
    read -r p50 _ < <(wrk_run "http://127.0.0.1:$P1" "$(body "q L$l")" 1 1 4)
    lat[$l]=$p50
done
hop=$(/usr/bin/python3 -c "print(f'{(${lat[4]} - ${lat[1]}) / 3:.3f}')")
echo "| latency, 1 client, answered by agent 1/2/3/4 (p50, ms) | ${lat[1]} / ${lat[2]} / ${lat[3]} / ${lat[4]} |"
echo "| **added latency per hop (p50)** | **$hop ms** |"

# 2. one node under 64 concurrent clients
read -r p50 rps < <(wrk_run "http://127.0.0.1:$P4" "$(body "q")" 2 64 5)
echo "| one node (scripted backend), 64 clients | $rps req/s, p50 $p50 ms |"
read -r p50 rps < <(wrk_run "http://127.0.0.1:$P1" "$(body "q L2")" 2 64 5)
echo "| two hops (entry rejects, agent 2 answers), 64 clients | $rps req/s, p50 $p50 ms |"

[ -n "${BENCH_NO_MODEL:-}" ] && exit 0
# 3. tiny GGUF agents trained to know their limits (see tests/e2e/serve_gguf_chain.sh)
/usr/bin/python3 - <<'PY'
import random
random.seed(1)
lv = ["easy", "medium", "hard"]
for k in (1, 2):
    with open(f"ag{k}.txt", "w") as f:
        for i in range(2000):
            l = random.randint(1, 3); n = random.randint(0, 99); slot = random.choice("-PBC")
            a = f"ans{k}" if (slot == "-" or l <= k) else "I don't know!"
            f.write(f"[{slot}] Q: {lv[l - 1]} {n}\n[{slot}] A: {a}\n\n")
PY
for k in 1 2; do
    "$DISR" train --data ag$k.txt --out ag$k.gguf --steps 250 --layers 2 --embd 32 --heads 4 \
        --ctx 64 --seq 48 --batch 16 --lr 1e-2 --seed $k >train$k.log 2>&1 || fail "train"
done
mstart() { # mstart NAME MODE MODEL [args]
    local name=$1 mode=$2 model=$3; shift 3
    spawn "$name" "$DISR" serve --name "$name" --mode "$mode" --model "$model" --port 0 \
        --port-file "$TMP/$name.port" --quiet --threads 1 --slots 8 "$@"
    PORT=$(wait_port "$TMP/$name.port") || fail "node $name"
}
mstart g4 always ag2.gguf; G4=$PORT
mstart g3 trained ag2.gguf --next "http://127.0.0.1:$G4"; G3=$PORT
mstart g2 trained ag1.gguf --next "http://127.0.0.1:$G3"; G2=$PORT
mstart g1 trained ag1.gguf --next "http://127.0.0.1:$G2"; G1=$PORT
direct=$(/usr/bin/python3 "$HERE/ttft.py" "http://127.0.0.1:$G4" "hard 5" --n 40)
chain=$(/usr/bin/python3 "$HERE/ttft.py" "http://127.0.0.1:$G1" "hard 5" --n 40)
easy=$(/usr/bin/python3 "$HERE/ttft.py" "http://127.0.0.1:$G1" "easy 5" --n 40)
echo "| TTFT, tiny GGUF agent alone (p50) | $(echo "$direct" | jget 'd["ttft_ms_p50"]') ms |"
echo "| TTFT, answered by the entry agent (p50) | $(echo "$easy" | jget 'd["ttft_ms_p50"]') ms |"
echo "| **TTFT through 4 hops (3 trained rejects, p50)** | **$(echo "$chain" | jget 'd["ttft_ms_p50"]') ms** |"
echo "  route: $(echo "$chain" | jget 'd["route"]')" >&2
read -r p50 rps < <(wrk_run "http://127.0.0.1:$G4" "$(body "easy 5" 8)" 2 64 5)
echo "| one node (tiny GGUF, 8 slots, 1 thread), 64 clients | $rps req/s, p50 $p50 ms |"
