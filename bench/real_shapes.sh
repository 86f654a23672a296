#!/usr/bin/env bash
# Hub shapes at full size (not run in CI): `disr synth` writes random-weight Qwen2.5-0.5B and
# Llama-3.2-1B models (the published hyperparameters; Qwen2.5 with the golden BPE vocabulary,
# Llama with the char vocabulary, embedding rows as the real ones), in each weight type, then
# `disr bench --model` measures llama-bench's pp512 / tg128 on each file, and `disr generate`
# checks it produces text. Speed does not depend on the weight values.
# Usage: bench/real_shapes.sh [build dir] [work dir] [types] [shapes]
#   defaults: build, /tmp/disr_real_shapes, "q8_0 q4_k_m q6_k q4_k", "qwen2.5-0.5b llama-3.2-1b"
# Needs about 6 GB of disk and memory for the F32 intermediate of Llama-3.2-1B.
set -eu
BUILD=${1:-build}
WORK=${2:-/tmp/disr_real_shapes}
TYPES=${3:-q8_0 q4_k_m q6_k q4_k}
SHAPES=${4:-qwen2.5-0.5b llama-3.2-1b}
DISR="$BUILD/disr"
[ -x "$DISR" ] || { echo "build first: make -j2"; exit 1; }
mkdir -p "$WORK"
echo "# real shapes, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for shape in $SHAPES; do
    vocab=""
    [ "$shape" = qwen2.5-0.5b ] && vocab="--vocab tests/golden/gguf_bpe_qwen2.gguf"
    for t in $TYPES; do
        f="$WORK/$shape-$t.gguf"
        [ -s "$f" ] || "$DISR" synth "$f" --shape "$shape" $vocab --type "$t"
        echo "## $shape $t: $(du -m "$f" | cut -f1) MB"
        "$DISR" generate -m "$f" -p "hello" -n 8 --temp 0 -q >/dev/null
        "$DISR" bench --model "$f" --threads 2 --reps 3
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
