#!/usr/bin/env bash
# GGUF end to end, against an independent implementation: tests/golden/gguf_reference.py (stdlib
# Python) writes tiny llama/qwen2 models; `disr info` reads and loads them; `disr quantize`
# converts them; the Python reader then parses every file we wrote with ggml's rules and checks
# each tensor byte for byte against ggml's reference quantizer. Damaged files must fail cleanly.
# Ends with a ~10 s libFuzzer run of the GGUF reader + model loader (non-sanitizer suite only).
set -euo pipefail
source "$(dirname "$0")/lib_skip.bash"
PY=/usr/bin/python3
REF=tests/golden/gguf_reference.py
T=$(mktemp -d /tmp/disr_e2e_gguf.XXXXXX)
trap 'rm -rf "$T"' EXIT

$PY $REF write-model "$T/llama.gguf" llama
$PY $REF write-model "$T/qwen2.gguf" qwen2
out=$("$DISR_BIN" info "$T/llama.gguf")
grep -q "model      llama, vocab 98, embd 32, 1 layers, 2 heads (1 kv), ff 64" <<<"$out"
grep -q "disr.agent.cost .* f32 .*0.1" <<<"$out"
grep -q "loads ok: f32 trainable weights, tokenizer char" <<<"$out"
grep -q "qkv bias" <<<"$("$DISR_BIN" info --no-tensors "$T/qwen2.gguf")"

for arch in llama qwen2; do
    for q in q8_0 q4_0 f16 f32; do
        "$DISR_BIN" quantize "$T/$arch.gguf" "$T/$arch-$q.gguf" --type "$q" >/dev/null
        $PY $REF check "$T/$arch-$q.gguf" --like "$T/$arch.gguf" --quant "$q" >/dev/null
        "$DISR_BIN" info "$T/$arch-$q.gguf" | grep -q "loads ok"
    done
done
# Round trip through quantize back to f32 from q8_0 loads as a trainable model again.
"$DISR_BIN" quantize "$T/llama-q8_0.gguf" "$T/back.gguf" --type f32 >/dev/null
"$DISR_BIN" info "$T/back.gguf" | grep -q "loads ok: f32 trainable"

# A qwen2 model with a real byte-level BPE vocabulary and F16 matrices (as published Qwen GGUFs
# come) loads as mapped typed weights, generates through ChatML, and requantizes exactly.
$PY $REF write-model "$T/qbpe.gguf" qwen2 --vocab tests/golden/gguf_bpe_qwen2.gguf --f16
"$DISR_BIN" info "$T/qbpe.gguf" | grep -q "loads ok: typed (mapped) weights, tokenizer bpe"
"$DISR_BIN" generate -m "$T/qbpe.gguf" --chat --system "Be brief." -p "Hello world" -n 4 \
    --temp 0 -q >/dev/null
for q in q8_0 q4_0 f32; do
    "$DISR_BIN" quantize "$T/qbpe.gguf" "$T/qbpe-$q.gguf" --type "$q" >/dev/null
    $PY $REF check "$T/qbpe-$q.gguf" --like "$T/qbpe.gguf" --quant "$q" >/dev/null
done

# Files written by `disr train` (both architectures) pass the independent reader's ggml rules,
# quantize, and still load.
for i in $(seq 20); do printf 'the cat sat on the mat.\n'; done >"$T/corpus.txt"
for arch in llama qwen2; do
    "$DISR_BIN" train --data "$T/corpus.txt" --out "$T/t-$arch.gguf" --steps 2 --arch "$arch" \
        --layers 1 --embd 32 --heads 2 --kv-heads 1 --ff 64 --ctx 32 --seq 16 --batch 2 \
        >/dev/null 2>&1
    $PY $REF check "$T/t-$arch.gguf" >/dev/null
    "$DISR_BIN" quantize "$T/t-$arch.gguf" "$T/t-$arch-q8.gguf" --type q8_0 >/dev/null
    $PY $REF check "$T/t-$arch-q8.gguf" --like "$T/t-$arch.gguf" --quant q8_0 >/dev/null
    "$DISR_BIN" info "$T/t-$arch-q8.gguf" | grep -q "loads ok: typed (mapped) weights, tokenizer char"
done

# Damaged files: one clear line, exit 1, no crash.
expect_fail() { # file pattern
    if "$DISR_BIN" info "$1" >/dev/null 2>"$T/err"; then echo "accepted $1"; exit 1; fi
    grep -q "^disr: info: .*$2" "$T/err" || { echo "bad message: $(cat "$T/err")"; exit 1; }
}
head -c 1500 "$T/llama.gguf" >"$T/trunc.gguf"
expect_fail "$T/trunc.gguf" "truncated"
head -c 40000 "$T/llama.gguf" >"$T/trunc2.gguf"
expect_fail "$T/trunc2.gguf" "past the end"
{ printf 'GGML'; tail -c +5 "$T/llama.gguf"; } >"$T/magic.gguf"
expect_fail "$T/magic.gguf" "not a GGUF file"
expect_fail "$T/missing.gguf" "cannot open"
if "$DISR_BIN" quantize "$T/llama.gguf" "$T/x.gguf" --type q5_1 2>"$T/err"; then exit 1; fi
grep -q "unknown type 'q5_1'" "$T/err"

# Fuzz smoke run (the harness and corpus are in tests/fuzz; longer runs: see its header).
if fuzz_smoke_wanted; then
    make -s fuzz >/dev/null
    mkdir -p "$T/corpus"
    build-fuzz/fuzz_gguf -max_total_time=10 -print_final_stats=1 "$T/corpus" tests/fuzz/corpus \
        >"$T/fuzz.log" 2>&1 || { tail -30 "$T/fuzz.log"; exit 1; }
    grep -E "stat::number_of_executed_units" "$T/fuzz.log" | sed 's/^/fuzz: /'
fi
skip_report
echo "gguf e2e ok"
