#!/usr/bin/env bash
# disr generate on a model trained here: greedy output is the same for 1 and 2 threads and run
# to run, a seed reproduces a sample and another seed changes it, --stop and --max-tokens end
# generation, a Q8_0 copy runs and mostly agrees, and bad use fails clearly.
set -euo pipefail
DISR=${DISR_BIN:-build/disr}
dir=$(mktemp -d /tmp/disr_e2e_generate.XXXXXX)
trap 'rm -rf "$dir"' EXIT
for i in $(seq 40); do printf 'one two three four five six seven eight nine ten.\n'; done > "$dir/c.txt"
$DISR train --data "$dir/c.txt" --layers 2 --embd 64 --heads 4 --ctx 64 --seq 48 --batch 8 \
    --lr 1e-2 --steps 80 --seed 2 --out "$dir/m.gguf" >/dev/null 2>&1
$DISR generate --help | grep -q -- "--top-p"

g1=$($DISR generate -m "$dir/m.gguf" -p "one two" -n 30 --temp 0 -t 1 -q)
g2=$($DISR generate -m "$dir/m.gguf" -p "one two" -n 30 --temp 0 -t 2 -q)
[ "$g1" = "$g2" ] || { echo "FAIL: greedy differs with threads: [$g1] [$g2]"; exit 1; }
[[ "$g1" == " three four five"* ]] || { echo "FAIL: did not continue the corpus: [$g1]"; exit 1; }

s1=$($DISR generate -m "$dir/m.gguf" -p "one" -n 40 --temp 1.5 --top-p 1 --seed 7 -q)
s2=$($DISR generate -m "$dir/m.gguf" -p "one" -n 40 --temp 1.5 --top-p 1 --seed 7 -q)
s3=$($DISR generate -m "$dir/m.gguf" -p "one" -n 40 --temp 1.5 --top-p 1 --seed 8 -q)
[ "$s1" = "$s2" ] || { echo "FAIL: seed 7 not reproducible"; exit 1; }
[ "$s1" != "$s3" ] || { echo "FAIL: seeds 7 and 8 gave the same 40 tokens"; exit 1; }

# --stop ends at the first '.', excluded; -n 3 gives at most 3 characters (char model).
st=$($DISR generate -m "$dir/m.gguf" -p "six" -n 60 --temp 0 --stop . -q)
[ "$st" = " seven eight nine ten" ] || { echo "FAIL: --stop gave [$st]"; exit 1; }
n3=$($DISR generate -m "$dir/m.gguf" -p "six" -n 3 --temp 0 2>"$dir/stats")
[ "$n3" = " se" ] || { echo "FAIL: -n 3 gave [$n3]"; exit 1; }
grep -q "3 tokens" "$dir/stats" || { echo "FAIL: stats: $(cat "$dir/stats")"; exit 1; }

# Q8_0 runs in place and, on a model this sure of itself, says the same.
$DISR quantize "$dir/m.gguf" "$dir/q8.gguf" --type q8_0 >/dev/null
q=$($DISR generate -m "$dir/q8.gguf" -p "one two" -n 30 --temp 0 -q)
[ "${q:0:15}" = "${g1:0:15}" ] || { echo "FAIL: q8_0 [$q] vs f32 [$g1]"; exit 1; }

# Bad use: exit 2 for options, 1 with a message for files and prompts.
rc=0; $DISR generate -m "$dir/m.gguf" 2>"$dir/err" || rc=$?
[ $rc -eq 2 ] && grep -q -- "--prompt" "$dir/err" || { echo "FAIL: missing prompt rc $rc"; exit 1; }
rc=0; $DISR generate -m "$dir/m.gguf" -p x --top-p 0 2>"$dir/err" || rc=$?
[ $rc -eq 2 ] || { echo "FAIL: --top-p 0 rc $rc"; exit 1; }
rc=0; $DISR generate -m "$dir/none.gguf" -p x 2>"$dir/err" || rc=$?
[ $rc -eq 1 ] && grep -q "none.gguf" "$dir/err" || { echo "FAIL: missing file rc $rc"; exit 1; }
rc=0; $DISR generate -m "$dir/m.gguf" -p $'\x01' 2>"$dir/err" || rc=$?
[ $rc -eq 1 ] && grep -qi "vocabulary" "$dir/err" || { echo "FAIL: bad byte rc $rc: $(cat "$dir/err")"; exit 1; }
head -c 1000 "$dir/m.gguf" > "$dir/cut.gguf"
rc=0; $DISR generate -m "$dir/cut.gguf" -p x 2>"$dir/err" || rc=$?
[ $rc -eq 1 ] || { echo "FAIL: truncated file rc $rc"; exit 1; }
echo "generate e2e ok"
