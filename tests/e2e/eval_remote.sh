#!/usr/bin/env bash
# disr eval over HTTP: a quick family served by real `disr serve` nodes on loopback (three in
# `trained` mode, one with a next agent, so the forced request must bypass decisions and hops),
# collected with --agents URL,... and with --net FILE; the outcome table equals the in-process
# one for the same GGUF files cell by cell (greedy answers, correctness, confidences from the
# nodes' per-token logprobs, the self-verification samples, drawn with the same seeds, and the
# SFT decisions, asked of the trained-mode nodes as disr-decide). An
# unreachable agent is a clear error with a non-zero exit and nothing written; an agent that
# fails mid-run leaves a resume file, and the same command then asks only for what is missing;
# a server without logprobs has its confidences recorded as null and the confidence cascade left
# out of the report.
set -eu
source "$(dirname "$0")/lib_net.bash"
cd "$TMP"
"$DISR" world --quick --seed 3 --out w >/dev/null
"$DISR" zoo --quick --world w --out z --threads 1 --steps-scale 0.05 >/dev/null 2>zoo.log ||
    { tail zoo.log; exit 1; }
Q=(--sa-train w/sa_train.jsonl --data w/test.jsonl --ood w/ood.jsonl --limit 24
   --verify-samples 2 --quick --no-plots)
# the base models stand in for trained checkpoints (their nodes run in trained mode)
"$DISR" eval --agents z/agent0.gguf,z/agent1.gguf,z/agent2.gguf,z/agent3.gguf "${Q[@]}" \
    --sft z/agent0.gguf,z/agent1.gguf,z/agent2.gguf,- --threads 1 --out local >/dev/null 2>local.err || { cat local.err; exit 1; }

# serve NAME MODE [args]: a GGUF node of the family; sets PORT
serve() {
    local name=$1 mode=$2; shift 2
    spawn "$name" "$DISR" serve --model "z/$name.gguf" --name "$name" --mode "$mode" \
        --threads 1 --slots 4 --port 0 --port-file "$TMP/$name.port" --quiet "$@"
    PORT=$(wait_port "$TMP/$name.port") || fail "node $name did not start"
    PID=${PIDS[-1]}
}
# stop PID: ends a node of this script and forgets it (the exit trap kills only live ones)
stop() {
    kill "$1"; wait "$1" 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
serve agent3 always; P3=$PORT; A3_PID=$PID
serve agent2 trained; P2=$PORT
serve agent1 trained --next "http://127.0.0.1:$P2"; P1=$PORT
serve agent0 trained; P0=$PORT
URLS="http://127.0.0.1:$P0,http://127.0.0.1:$P1/v1,http://127.0.0.1:$P2/v1/chat/completions,http://127.0.0.1:$P3"

# same_table A B: the cells agree (timings and names aside); confidences to 1e-6 relative
same_table() {
    /usr/bin/python3 - "$1" "$2" <<'PY' || fail "outcome tables differ: $1 vs $2"
import json, math, os, sys
def cells(p):
    return {(o["qid"], o["agent"]): o for o in map(json.loads, open(p))}
a, b = cells(sys.argv[1]), cells(sys.argv[2])
assert a.keys() == b.keys(), "different cells"
for k in a:
    x, y = a[k], b[k]
    for f in ("split", "cost", "forced", "correct", "verify", "sft_answer", "sft_correct"):
        assert x.get(f) == y.get(f), (k, f, x.get(f), y.get(f))
    assert (x["conf"] is None) == (y["conf"] is None), (k, x["conf"], y["conf"])
    assert x["conf"] is None or math.isclose(x["conf"], y["conf"], rel_tol=1e-6, abs_tol=1e-12), (k, x["conf"], y["conf"])
# the quick family is nearly always wrong; what makes the comparison count is that the answers
# and their probabilities differ from query to query
# (a random chat model answers alike, but with other probabilities)
nf, nc = (1, 5) if os.environ.get("CHAT") else (10, 10)
assert len({x["forced"] for x in a.values()}) > nf and len({x["conf"] for x in a.values()}) > nc
print(f"{len(a)} cells equal")
PY
}

SFT="http://127.0.0.1:$P0,http://127.0.0.1:$P1,http://127.0.0.1:$P2,-"
"$DISR" eval --agents "$URLS" "${Q[@]}" --sft "$SFT" --out remote >/dev/null 2>remote.err ||
    { cat remote.err; fail "remote eval failed"; }
same_table local/outcomes.jsonl remote/outcomes.jsonl
grep -q "q/s.*ETA" remote.err || fail "no progress line with a rate and ETA"
[ ! -e remote/outcomes.partial.jsonl ] || fail "resume file left after a finished run"
grep -q "Left out: \*\*Confidence cascade" remote/report.md && fail "confidence cascade left out"
[ "$(metric "http://127.0.0.1:$P1" disr_forwards_total)" = 0 ] || fail "a forced request was forwarded"

# a chat (BPE) model is prompted through its chat template in process as by its node
/usr/bin/python3 "$OLDPWD/tests/golden/gguf_reference.py" write-model chat.gguf llama --chat
spawn chat "$DISR" serve --model chat.gguf --name chat --mode always --threads 1 --port 0 \
    --port-file "$TMP/chat.port" --quiet
PC=$(wait_port "$TMP/chat.port") || fail "the chat node did not start"
for s in sa te; do # short queries: the tiny model's context is 64 tokens
    for i in 0 1 2 3 4 5 6 7; do
        printf '{"id":"%s%d","family":"add","query":"%d+%d=","answer":"%d","grader":"number"}\n' \
            "$s" "$i" "$i" "$((i + 1))" "$((2 * i + 1))"
    done >"$s.jsonl"
done
C=(--sa-train sa.jsonl --data te.jsonl --max-tokens 8 --quick --no-plots)
"$DISR" eval --agents chat.gguf,z/agent3.gguf "${C[@]}" --threads 1 --out chat_local \
    >/dev/null 2>chat.err || { cat chat.err >&2; fail "in-process eval of the chat model"; }
"$DISR" eval --agents "http://127.0.0.1:$PC,http://127.0.0.1:$P3" "${C[@]}" --out chat_remote \
    >/dev/null 2>chat.err || { cat chat.err; fail "remote eval of the chat model"; }
CHAT=1 same_table chat_local/outcomes.jsonl chat_remote/outcomes.jsonl

# the same agents from a network file (agents running elsewhere: start = no)
{
    echo "[network]"
    i=0
    for p in $P0 $P1 $P2 $P3; do
        printf '[agent agent%d]\nstart = no\nurl = http://127.0.0.1:%d\ncost = %s\n' "$i" "$p" \
            "$(/usr/bin/python3 -c "print(0.1 + 0.8 * $i / 3)")"
        i=$((i + 1))
    done
} >net.conf
"$DISR" eval --net net.conf "${Q[@]}" --sft "$SFT" --out net >/dev/null 2>net.err || { cat net.err; fail "--net"; }
same_table local/outcomes.jsonl net/outcomes.jsonl

# an unreachable agent: a clear error, a non-zero exit, nothing written
set +e
"$DISR" eval --agents "http://127.0.0.1:$P0,http://127.0.0.1:1/v1" "${Q[@]}" --retries 1 \
    --out down >/dev/null 2>down.err
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "an unreachable agent did not fail the run"
grep -q "agent 1 (http://127.0.0.1:1/v1) is unreachable after 2 attempts: .*/v1/models: " down.err &&
    [ "$(grep -o "is unreachable" down.err | wc -l)" = 1 ] || { cat down.err; fail "unclear error"; }
[ ! -e down ] || fail "an unreachable agent left files: $(ls down)"

# an agent that fails on every query mid-run: exit non-zero, the cells of the others kept; with
# the real agent back on the same port, the same command asks only for the missing cells
stop "$A3_PID"
rm -f "$TMP/agent3.port"
echo '{"contains":"","fail":true}' >fail.jsonl
start_node agent3 0.9 always fail.jsonl --port "$P3"
FAIL_PID=$PID
set +e
"$DISR" eval --agents "$URLS" "${Q[@]}" --sft "$SFT" --retries 1 --out resumed >/dev/null 2>fail.err
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a failing agent did not fail the run"
grep -q "rerun the same command" fail.err || { cat fail.err; fail "no resume hint"; }
[ ! -e resumed/outcomes.jsonl ] && [ ! -e resumed/report.md ] || fail "a failed run wrote a report"
kept=$(($(wc -l <resumed/outcomes.partial.jsonl) - 1))
[ "$kept" -gt 0 ] || fail "no cells kept"
stop "$FAIL_PID"
rm -f "$TMP/agent3.port"
serve agent3 always --port "$P3"
"$DISR" eval --agents "$URLS" "${Q[@]}" --sft "$SFT" --out resumed >/dev/null 2>resume.err ||
    { cat resume.err; fail "the resumed run failed"; }
grep -q "$kept results read back" resume.err || { cat resume.err; fail "resume did not read $kept cells"; }
same_table local/outcomes.jsonl resumed/outcomes.jsonl

# a server without logprobs (a scripted node): confidences null, the cascade left out; the
# trained decisions of a node that rejects everything (and has a next agent it must not ask)
echo '{"contains":"","reply":"7"}' >seven.jsonl
start_node plain 0.1 always seven.jsonl
PP=$PORT
echo '{"contains":"","reply":"I don'"'"'t know!","answer":"7"}' >rej.jsonl
start_node rej 0.1 trained rej.jsonl --next "http://127.0.0.1:$P3"
"$DISR" eval --agents "http://127.0.0.1:$PP,http://127.0.0.1:$P3" "${Q[@]}" \
    --sft "http://127.0.0.1:$PORT,-" --out nolp \
    >/dev/null 2>nolp.err || { cat nolp.err; fail "eval with a server without logprobs"; }
grep -q "gave no log probabilities" nolp.err || fail "no warning about missing logprobs"
grep -q '"agent":0,"name":"plain".*"conf":null' nolp/outcomes.jsonl || fail "conf not null"
grep -q "Left out: \*\*Confidence cascade\*\*: agent 0 (plain) has no recorded answer probabilities" \
    nolp/report.md || fail "the confidence cascade is not left out with its reason"
grep '"agent":0,' nolp/outcomes.jsonl | grep -v '"split":"train"' | grep -qv '"sft_answer":\[0,0,0\]' &&
    fail "the rejecting node's decisions are not all rejects"
grep -q "Left out: \*\*DiSRouter (SFT)" nolp/report.md && fail "DiSRouter (SFT) left out"
[ "$(metric "http://127.0.0.1:$PORT" disr_forwards_total)" = 0 ] || fail "a decision was forwarded"
echo "eval_remote e2e ok"
