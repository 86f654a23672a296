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
echo "bench e2e ok"
