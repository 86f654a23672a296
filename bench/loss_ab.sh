#!/usr/bin/env bash
# Loss curves of two builds on the same training run, to check that a change to the training
# path leaves learning as it was: `disr train` on a world's pretraining stream at one agent shape
# of the zoo (the zoo's batch, sequence, learning rate and prompt weight), in segments of SEG
# steps (--stop-after, then --resume), printing the mean loss of each segment's last 10 steps.
# Each build runs with seeds 1 and 2, so the seed-to-seed spread shows what "within noise" means.
#   bench/loss_ab.sh OLD_DISR NEW_DISR WORLD_DIR EMBD LAYERS HEADS [STEPS=600] [SEG=100]
# e.g. the default family's agent0 and agent3: `... W 48 3 4` and `... W 128 5 4`
# (WORLD_DIR from `disr world --seed 1 --out WORLD_DIR`).
set -euo pipefail
usage="usage: bench/loss_ab.sh OLD_DISR NEW_DISR WORLD_DIR EMBD LAYERS HEADS [STEPS] [SEG]"
old=${1:?$usage} new=${2:?$usage} world=${3:?$usage} embd=${4:?$usage} layers=${5:?$usage}
heads=${6:?$usage} steps=${7:-600} seg=${8:-100}
ff=$(((8 * embd / 3 + 15) / 16 * 16)) # the zoo's SwiGLU width
dir=$(mktemp -d /tmp/disr_loss_ab.XXXXXX)
trap 'rm -rf "$dir"' EXIT
declare -A curve
for seed in 1 2; do
    for side in old new; do
        bin=$old
        [ "$side" = new ] && bin=$new
        row=""
        for _ in $(seq $((steps / seg))); do
            line=$("$bin" train --data "$world/pretrain.txt" --answer-only --prompt-weight 0.2 \
                --layers "$layers" --embd "$embd" --heads "$heads" --ff "$ff" --ctx 256 --tied \
                --batch 8 --seq 128 --lr 3e-3 --steps "$steps" --seed "$seed" \
                --out "$dir/$side$seed.gguf" --resume --stop-after "$seg" 2>/dev/null)
            row+=" $(sed -n 's/.*-> \([0-9.]*\).*/\1/p' <<<"$line")"
        done
        curve[$side$seed]=$row
    done
done
printf '| build, seed |'
for s in $(seq "$seg" "$seg" "$steps"); do printf ' step %s |' "$s"; done
printf '\n| --- |%s\n' "$(printf ' ---: |%.0s' $(seq $((steps / seg))))"
for k in old1 new1 old2 new2; do
    printf '| %s |' "$k"
    for v in ${curve[$k]}; do printf ' %s |' "$v"; done
    printf '\n'
done
