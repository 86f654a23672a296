#!/usr/bin/env bash
# The test runner (tests/run.sh) counts skips and fails on those it does not allow: run on a copy
# of the tree whose suites are planted, it passes only when every skip is one its allow-list
# names, and fails on the real serve_openai suite run with node removed from PATH, on a skip
# without a reason, and on a suite that skipped a part.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/disr_e2e_runner.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# the tree: the runner, the skip helpers, the layer check and what it reads; no unit tests
mkdir -p "$T/t/tests/e2e" "$T/t/scripts"
cp -r "$ROOT/src" "$ROOT/include" "$T/t/"
cp "$ROOT/tests/run.sh" "$T/t/tests/"
cp "$ROOT/tests/e2e/lib_skip.bash" "$ROOT/tests/e2e/lib_net.bash" "$T/t/tests/e2e/"
cp "$ROOT/scripts/check_layers.sh" "$T/t/scripts/"
E="$T/t/tests/e2e"
echo 'echo fine' >"$E/planted_ok.sh"
# an allowed skip (as the sanitizer build makes it)
# shellcheck disable=SC2016 # the planted script expands it
printf 'source "$(dirname "$0")/lib_skip.bash"\nskip san "planted"\n' >"$E/demo_quick.sh"
run() { # run NAME [env...]: the runner on the tree; its output in $T/NAME.out, its status in RC
    local name=$1; shift
    RC=0
    (cd "$T/t" && env BUILD=none "$@" bash tests/run.sh) >"$T/$name.out" 2>&1 || RC=$?
}
expect() { # expect NAME PATTERN...
    local name=$1; shift
    for p in "$@"; do grep -q -- "$p" "$T/$name.out" || { cat "$T/$name.out"; fail "$name: no '$p'"; }; done
}

run allowed
[ "$RC" -eq 0 ] || { cat "$T/allowed.out"; fail "an allowed skip failed the run"; }
expect allowed "^skip e2e/demo_quick" "e2e/demo_quick: san: planted (allowed: " \
    "^2 passed, 0 failed, 1 skipped$"

# a dependency the project installs is missing: the real serve_openai suite, node off PATH
cp "$ROOT/tests/e2e/serve_openai.sh" "$E/"
nonode=""
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
    if [ -e "$d/node" ] || [ -e "$d/npm" ]; then
        m="$T/bin$((${#nonode} + 1))"; mkdir -p "$m"
        cp -s "$d"/* "$m/" 2>/dev/null || true
        rm -f "$m/node" "$m/npm" "$m/npx" "$m/nodejs"
        d=$m
    fi
    nonode="${nonode:+$nonode:}$d"
done
PATH=$nonode command -v node >/dev/null && fail "node still on the planted PATH"
run nonode PATH="$nonode"
[ "$RC" -ne 0 ] || { cat "$T/nonode.out"; fail "a skip for lack of node passed"; }
expect nonode "^FAIL e2e/serve_openai (.*): skipped (node: node/npm not installed), and this skip is not allowed" \
    "e2e/serve_openai: node: node/npm not installed (NOT allowed" "failed suites: e2e/serve_openai" \
    "^2 passed, 1 failed, 1 skipped$"
rm "$E/serve_openai.sh"

# exit 77 with no reason, and a suite that left a part out
echo 'exit 77' >"$E/planted_mute.sh"
# shellcheck disable=SC2016
printf 'source "$(dirname "$0")/lib_skip.bash"\nskip_part gnuplot "planted part"\necho rest ran\nskip_report\necho ok\n' \
    >"$E/planted_part.sh"
run others
[ "$RC" -ne 0 ] || { cat "$T/others.out"; fail "unexplained skips passed"; }
expect others "e2e/planted_mute: ?: exit 77 without a SKIP line (NOT allowed" \
    "e2e/planted_part: gnuplot: part skipped: planted part (NOT allowed" \
    "^2 passed, 2 failed, 1 skipped$"
grep -q "^ok$" "$T/others.out" && fail "skip_report did not end the suite"
echo "runner e2e ok"
