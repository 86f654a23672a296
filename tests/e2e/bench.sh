#!/usr/bin/env bash
# disr bench --quick: the inference table has a row per type with positive speeds and the
# memory figures the config implies, the training row is there; bad options fail with exit 2.
set -eu
DISR=${DISR_BIN:-build/disr}
tmp=$(mktemp -d /tmp/disr_e2e_bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$DISR" bench --help >/dev/null
"$DISR" bench --quick --threads 2 >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
for t in f32 q8_0; do
    row=$(grep "^| agent | $t |" "$tmp/out") || { echo "no row for $t"; cat "$tmp/out"; exit 1; }
    # | agent | type | weights | kv | pp (label) | tg (label) | batch |
    echo "$row" | awk -F'|' '{ split($6, pp, " "); split($7, tg, " ");
        if (!(pp[1] > 0 && tg[1] > 0 && $8 > 0)) exit 1 }' || { echo "bad speeds: $row"; exit 1; }
done
# KV cache of the agent shape: 2 * 4 layers * 4 seqs * 128 ctx * 256 * 4 bytes = 4 MiB
grep -q "^| agent | f32 | 13.1 | 4.0 |" "$tmp/out" || { echo "memory figures"; cat "$tmp/out"; exit 1; }
grep -q "^| agent | q8_0 | 3.5 | 4.0 |" "$tmp/out" || { echo "q8_0 weights"; cat "$tmp/out"; exit 1; }
grep -q "^| agent | 3.4M | 2 x 32 |" "$tmp/out" || { echo "training row"; cat "$tmp/out"; exit 1; }
# The zoo's largest agent shape (1.02 M parameters) trains at a positive rate.
grep "^| C128 L5 | 1.02M | 1 x 16 | 2 |" "$tmp/out" | awk -F'|' '{ if (!($7 > 0 && $8 > 0)) exit 1 }' ||
    { echo "zoo row"; cat "$tmp/out"; exit 1; }
# The memory row: 2 threads, a positive bandwidth, the 110m F32 ceiling from its 438 MB/token.
grep -q "decode ceiling (438 MB/token)" "$tmp/out" || { echo "ceiling header"; cat "$tmp/out"; exit 1; }
grep "^| streaming read, 512 MiB | 2 |" "$tmp/out" | awk -F'|' '{ split($5, c, " ");
    if (!($4 > 0 && c[1] > 0)) exit 1 }' || { echo "memory row"; cat "$tmp/out"; exit 1; }
rc=0; "$DISR" bench --reps 0 2>"$tmp/err" >/dev/null || rc=$?
[ "$rc" -eq 2 ] || { echo "--reps 0: rc $rc"; exit 1; }
rc=0; "$DISR" bench --train-steps 0 2>"$tmp/err" >/dev/null || rc=$?
[ "$rc" -eq 2 ] || { echo "--train-steps 0: rc $rc"; exit 1; }
rc=0; "$DISR" bench --what nothing 2>"$tmp/err" >/dev/null || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--what" "$tmp/err" || { echo "--what nothing: rc $rc"; exit 1; }
rc=0; "$DISR" bench --what infer --types q9 2>"$tmp/err" >/dev/null || rc=$?
[ "$rc" -ne 0 ] && grep -qi "q9" "$tmp/err" || { echo "--types q9: rc $rc"; cat "$tmp/err"; exit 1; }

# --model FILE.gguf: llama-bench's tests on a file, one row each, median within [min, max].
for i in $(seq 20); do printf 'one two three four five six seven eight nine ten.\n'; done > "$tmp/c.txt"
"$DISR" train --data "$tmp/c.txt" --layers 2 --embd 64 --heads 4 --ctx 64 --seq 32 --batch 4 \
    --steps 2 --out "$tmp/m.gguf" >/dev/null 2>&1
"$DISR" quantize "$tmp/m.gguf" "$tmp/q4.gguf" --type q4_0 >/dev/null
for f in m q4; do
    "$DISR" bench --model "$tmp/$f.gguf" --pp 24 --tg 8 --depth 16 --reps 3 --threads 2 \
        >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
    for t in "pp24" "tg8" "tg8 @ d16"; do
        grep "^| $t |" "$tmp/out" | awk -F'|' '{ if (!($3 > 0 && $4 <= $3 && $3 <= $5)) exit 1 }' ||
            { echo "$f: bad or missing row $t"; cat "$tmp/out"; exit 1; }
    done
    [ "$(grep -c '^| [pt][pg][0-9]' "$tmp/out")" -eq 3 ] || { echo "$f: rows"; cat "$tmp/out"; exit 1; }
done
grep -q "q4_0 matrices" "$tmp/out" || { echo "type not named"; cat "$tmp/out"; exit 1; }
# The tests must fit the model's context (64): 24 + 16 + 8 does, 60 + 8 does not.
rc=0; "$DISR" bench --model "$tmp/m.gguf" --pp 24 --tg 8 --depth 60 2>"$tmp/err" >/dev/null || rc=$?
[ "$rc" -eq 1 ] && grep -q "context" "$tmp/err" || { echo "depth 60: rc $rc"; cat "$tmp/err"; exit 1; }
rc=0; "$DISR" bench --model "$tmp/none.gguf" 2>"$tmp/err" >/dev/null || rc=$?
[ "$rc" -eq 1 ] && grep -q "none.gguf" "$tmp/err" || { echo "missing file: rc $rc"; exit 1; }
head -c 3000 "$tmp/m.gguf" > "$tmp/cut.gguf"
rc=0; "$DISR" bench --model "$tmp/cut.gguf" 2>"$tmp/err" >/dev/null || rc=$?
[ "$rc" -eq 1 ] || { echo "truncated file: rc $rc"; exit 1; }
echo "bench e2e ok"
