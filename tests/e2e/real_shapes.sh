#!/usr/bin/env bash
# Hub-model shapes end to end, at a reduced size that keeps each architecture's features:
# `disr synth` writes random-weight models shaped like Qwen2.5 (qwen2: QKV biases, GQA, tied,
# NEOX rope base 1e6, with a real byte-level BPE vocabulary), Llama 3.2 (llama: GQA 4:1, rope
# base 5e5, tied) and Qwen3 (qwen3: per-head q/k norm, heads wider than n_embd / n_head) in the
# K types (Q4_K_M mix, Q6_K, Q4_K, Q2_K, Q3_K, Q5_K) and BF16; each loads as mapped typed
# weights, generates, and answers through `disr serve`. A file larger than the memory the
# process may use is refused before its weights are touched; truncated K-type files fail
# cleanly. The full-size models are in bench/real_shapes.sh, not here.
source "$(dirname "$0")/lib_net.bash"
BPE=tests/golden/gguf_bpe_qwen2.gguf
small="--layers 2 --embd 256 --heads 4 --ff 512"

"$DISR" synth "$TMP/qwen2.gguf" --shape qwen2.5-0.5b $small --kv-heads 2 --n-vocab 512 \
    --vocab "$BPE" --type q4_k_m >/dev/null || fail "synth qwen2"
"$DISR" synth "$TMP/llama.gguf" --shape llama-3.2-1b $small --kv-heads 1 --ff 1024 \
    --n-vocab 300 --type q6_k >/dev/null || fail "synth llama"
"$DISR" synth "$TMP/qwen3.gguf" --shape qwen3-0.6b $small --kv-heads 2 --head-dim 128 \
    --n-vocab 300 --type q4_k >/dev/null || fail "synth qwen3"
for t in q2_k q3_k q5_k bf16; do
    "$DISR" quantize "$TMP/llama.gguf" "$TMP/llama-$t.gguf" --type "$t" >/dev/null ||
        fail "quantize $t"
done

info=$("$DISR" info "$TMP/qwen2.gguf")
grep -q "model      qwen2, vocab 512, embd 256, 2 layers, 4 heads (2 kv), ff 512" <<<"$info" ||
    fail "qwen2 config: $info"
grep -q "qkv bias, tied output" <<<"$info" || fail "qwen2 bias/tied"
grep -q "loads ok: typed (mapped) weights, tokenizer bpe" <<<"$info" || fail "qwen2 load"
# the Q4_K_M mix: Q6_K for the tied embedding and (of 2 layers) layer 1's attn_v and ffn_down
grep -Eq "token_embd.weight +q6_k" <<<"$info" || fail "q4_k_m embedding"
grep -Eq "blk.1.attn_v.weight +q6_k" <<<"$info" || fail "q4_k_m attn_v"
grep -Eq "blk.1.ffn_down.weight +q6_k" <<<"$info" || fail "q4_k_m ffn_down"
grep -Eq "blk.0.attn_v.weight +q4_k" <<<"$info" || fail "q4_k_m attn_v layer 0"
grep -Eq "blk.1.attn_q.weight +q4_k" <<<"$info" || fail "q4_k_m attn_q"
info=$("$DISR" info "$TMP/qwen3.gguf")
grep -q "model      qwen3, .*q/k norm" <<<"$info" || fail "qwen3 config: $info"
grep -q "head size 128 (q width 512)" <<<"$info" || fail "qwen3 head size"
grep -Eq "blk.0.attn_q.weight +q4_k +\[256, 512\]" <<<"$info" || fail "qwen3 attn_q"

for f in qwen2 llama qwen3 llama-q2_k llama-q3_k llama-q5_k llama-bf16; do
    "$DISR" info "$TMP/$f.gguf" | grep -q "loads ok: typed (mapped) weights" || fail "$f loads"
    out=$("$DISR" generate -m "$TMP/$f.gguf" -p "hello world" -n 6 --temp 0 -q 2>"$TMP/gen.err") ||
        fail "$f generate: $(cat "$TMP/gen.err")"
done
"$DISR" generate -m "$TMP/qwen2.gguf" --chat -p "Hello" -n 4 --temp 0 -q >/dev/null ||
    fail "qwen2 chat"

# served: the K-quant qwen2 model with its BPE vocabulary answers an OpenAI-style request
spawn node "$DISR" serve --model "$TMP/qwen2.gguf" --name q --mode always --slots 2 \
    --threads 1 --port 0 --port-file "$TMP/q.port" --quiet
PORT=$(wait_port "$TMP/q.port") || fail "serve did not start"
r=$(curl -s --max-time 60 "http://127.0.0.1:$PORT/v1/chat/completions" \
    -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":5,"temperature":0}')
[ "$(jget 'd["disr"]["answerer"]' <<<"$r")" = q ] || fail "serve answer: $r"
[ "$(jget 'd["usage"]["completion_tokens"] > 0' <<<"$r")" = True ] || fail "serve usage: $r"

# more weights than the process may use: refused before they are touched, with the sizes
if DISR_MEM_AVAILABLE=1000000 "$DISR" info "$TMP/llama.gguf" >"$TMP/mem.out" 2>&1; then :; fi
grep -q "do not fit in memory" "$TMP/mem.out" || fail "memory limit: $(cat "$TMP/mem.out")"
# truncated K-type file: one clear line
head -c 100000 "$TMP/qwen2.gguf" >"$TMP/trunc.gguf"
if "$DISR" info "$TMP/trunc.gguf" >/dev/null 2>"$TMP/err"; then fail "truncated accepted"; fi
grep -q "past the end" "$TMP/err" || fail "truncated: $(cat "$TMP/err")"
echo "real_shapes: ok"
