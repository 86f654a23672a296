#!/usr/bin/env bash
# Reproduces docs/PERFORMANCE.md "Current figures": the engine's prefill/decode figures on the
# agent and ~110M shapes (F32, Q8_0, Q4_0), 2 and 1 threads, then the training row and the
# machine's streaming read bandwidth (decode's ceiling), with the machine's load recorded next
# to the figures (the machine is shared: compare runs at similar load, and prefer the lowest).
# Usage: bench/run.sh [build dir] (default build).
set -eu
BUILD=${1:-build}
DISR="$BUILD/disr"
[ -x "$DISR" ] || { echo "build first: make -j2"; exit 1; }
echo "# disr bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$DISR" bench --what infer --threads 2 --reps 5
echo
"$DISR" bench --what infer --threads 1 --reps 5 --batch 1
echo
"$DISR" bench --what train --train-steps 5
echo
"$DISR" bench --what memory --threads 2 --reps 5
"$DISR" bench --what memory --threads 1 --reps 5
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
