#!/usr/bin/env bash
# disr eval end to end: a synthetic outcome table -> report directory; every number recomputes
# from the raw records (tests/e2e/eval_check.py, an independent Python reference); the report
# reproduces from the outcomes it saved; bad input fails with a clear message.
set -eu
DISR_BIN=${DISR_BIN:-build/disr}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$DISR_BIN" eval --help | grep -q -- "--outcomes"

"$DISR_BIN" eval --synthetic 300 --quick --out "$tmp/a" >"$tmp/a.out" 2>"$tmp/a.err" ||
    { cat "$tmp/a.err"; exit 1; }
grep -q "DiSRouter (+RL)" "$tmp/a.out"
for f in report.md summary.json records.jsonl outcomes.jsonl; do test -s "$tmp/a/$f"; done
if command -v gnuplot >/dev/null; then
    for p in utility_alpha_test utility_alpha_ood routing_share answer_rate easy_hard_cost sa_f1; do
        head -c 8 "$tmp/a/$p.png" | grep -q PNG || { echo "missing plot $p.png"; exit 1; }
    done
fi
/usr/bin/python3 "$here/eval_check.py" "$tmp/a"

# The saved outcome table reproduces the same numbers.
"$DISR_BIN" eval --outcomes "$tmp/a/outcomes.jsonl" --quick --no-plots --out "$tmp/b" \
    >/dev/null 2>"$tmp/b.err" || { cat "$tmp/b.err"; exit 1; }
cmp -s "$tmp/a/summary.json" "$tmp/b/summary.json" || { echo "summary differs on reload"; exit 1; }
cmp -s "$tmp/a/records.jsonl" "$tmp/b/records.jsonl" || { echo "records differ on reload"; exit 1; }

# Bad input: a clear message naming the file and line, exit code 1; usage errors exit 2.
printf '{"qid":"x","split":"test","agent":0,"correct":1}\n{"qid":"x","split":"nope","agent":1,"correct":1}\n' >"$tmp/bad.jsonl"
set +e
"$DISR_BIN" eval --outcomes "$tmp/bad.jsonl" --out "$tmp/c" 2>"$tmp/c.err"
rc=$?
"$DISR_BIN" eval --out "$tmp/d" 2>/dev/null
rc2=$?
set -e
[ "$rc" -eq 1 ] && grep -q "bad.jsonl:2" "$tmp/c.err" || { echo "bad outcomes: rc $rc"; cat "$tmp/c.err"; exit 1; }
[ "$rc2" -eq 2 ] || { echo "missing input: rc $rc2"; exit 1; }
echo "eval e2e ok"
