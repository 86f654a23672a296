#!/usr/bin/env bash
# Training speed of two builds side by side at the agent ladder's shapes: alternates
# `OLD bench --what zoo` and `NEW bench --what zoo` (same threads, same steps) for ROUNDS rounds
# and prints, per shape, the median tokens/s of each, the median of the per-round ratios new/old
# with their range, and the same for tokens per CPU-second (robust when other jobs share the
# cores). The machine's load average is printed before and after.
#   bench/zoo_ab.sh OLD_DISR NEW_DISR [THREADS=1] [ROUNDS=5] [STEPS=10]
set -euo pipefail
old=${1:?usage: bench/zoo_ab.sh OLD_DISR NEW_DISR [THREADS] [ROUNDS] [STEPS]}
new=${2:?usage: bench/zoo_ab.sh OLD_DISR NEW_DISR [THREADS] [ROUNDS] [STEPS]}
threads=${3:-1} rounds=${4:-5} steps=${5:-10}
out=$(mktemp -d /tmp/disr_zoo_ab.XXXXXX)
trap 'rm -rf "$out"' EXIT
echo "threads $threads, $rounds rounds of $steps steps; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
    for side in old new; do
        bin=$old
        [ "$side" = new ] && bin=$new
        "$bin" bench --what zoo --threads "$threads" --train-steps "$steps" 2>/dev/null |
            awk -v r="$r" -v s="$side" -F'|' '/^\| C[0-9]/ {
                gsub(/ /, "", $2); print r, s, $2, $7, $8 }' >>"$out/rows"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$out/rows" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(dict)  # (shape, round) -> side -> (tok/s, tok/CPU-s)
order = []
for line in open(sys.argv[1]):
    r, side, shape, tps, tpc = line.split()
    if shape not in order:
        order.append(shape)
    rows[(shape, r)][side] = (float(tps), float(tpc))
print("| shape | old tok/s | new tok/s | new/old [range] | old tok/CPU-s | new tok/CPU-s | new/old [range] |")
print("| --- | ---: | ---: | --- | ---: | ---: | --- |")
for shape in order:
    pairs = [v for (s, _), v in rows.items() if s == shape and "old" in v and "new" in v]
    cells = []
    for k in (0, 1):
        o = [p["old"][k] for p in pairs]
        n = [p["new"][k] for p in pairs]
        q = [p["new"][k] / p["old"][k] for p in pairs]
        cells += [f"{statistics.median(o):.0f}", f"{statistics.median(n):.0f}",
                  f"**{statistics.median(q):.2f}** [{min(q):.2f}, {max(q):.2f}]"]
    print(f"| {shape} | " + " | ".join(cells) + " |")
PY
