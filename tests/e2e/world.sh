#!/usr/bin/env bash
# disr world: same seed gives byte-identical files, a different seed differs, bad use fails
# with a clear message and a non-zero exit.
set -eu
DISR=${DISR_BIN:-build/disr}
tmp=$(mktemp -d /tmp/disr_e2e_world.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$DISR" world --help >/dev/null
"$DISR" world --quick --seed 5 --out "$tmp/a" >/dev/null
"$DISR" world --quick --seed 5 --out "$tmp/b/nested" >/dev/null
"$DISR" world --quick --seed 6 --out "$tmp/c" >/dev/null
for f in pretrain.txt sa_train.jsonl test.jsonl ood.jsonl anchors.jsonl world.json; do
    [ -s "$tmp/a/$f" ] || { echo "missing $f"; exit 1; }
    cmp -s "$tmp/a/$f" "$tmp/b/nested/$f" || { echo "seed 5 not reproducible: $f"; exit 1; }
    if cmp -s "$tmp/a/$f" "$tmp/c/$f"; then echo "seeds 5 and 6 give the same $f"; exit 1; fi
done
[ -z "$(ls "$tmp/a" | grep '\.tmp$' || true)" ] || { echo "temporary files left"; exit 1; }
# errors: missing --out, --quick with --full, a bad --mc-options, an output path that is a file
rc=0; "$DISR" world --quick 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--out" "$tmp/err" || { echo "missing --out: rc $rc"; exit 1; }
rc=0; "$DISR" world --quick --full --out "$tmp/d" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || { echo "--quick --full: rc $rc"; exit 1; }
rc=0; "$DISR" world --quick --mc-options random --out "$tmp/d" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "sorted or shuffled" "$tmp/err" || { echo "bad --mc-options: rc $rc"; exit 1; }
"$DISR" world --quick --seed 5 --mc-options shuffled --out "$tmp/e" >/dev/null
grep -q '"mc_options":[[:space:]]*"shuffled"' "$tmp/e/world.json" || { echo "world.json lacks mc_options"; exit 1; }
touch "$tmp/file"
rc=0; "$DISR" world --quick --out "$tmp/file" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "disr: world: " "$tmp/err" || { echo "out is a file: rc $rc"; exit 1; }
# --levels: the difficulty mix of the queries; a malformed or all-zero mix is refused
"$DISR" world --quick --seed 4 --levels 0,0,0,1 --out "$tmp/l" >/dev/null
/usr/bin/python3 - "$tmp/l" <<'PY'
import json, sys
for f in ("sa_train", "test", "ood"):
    lv = {json.loads(l)["difficulty"] for l in open(f"{sys.argv[1]}/{f}.jsonl")}
    assert lv == {4}, (f, lv)
assert json.load(open(f"{sys.argv[1]}/world.json"))["config"]["level_mix"] == [0, 0, 0, 1]
PY
rc=0; "$DISR" world --quick --levels 1,2 --out "$tmp/l2" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "levels" "$tmp/err" || { echo "--levels 1,2: rc $rc"; exit 1; }
rc=0; "$DISR" world --quick --levels 0,0,0,0 --out "$tmp/l2" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "difficulty level" "$tmp/err" || { echo "--levels 0,0,0,0: rc $rc"; exit 1; }
echo "world e2e ok"
