#!/usr/bin/env bash
# The layer check (scripts/check_layers.sh) on copies of the tree: it passes on the real one, and
# fails, naming file, line and both layers, on each planted violation: an include pointing up
# (core -> eval, written "x/y.h" or <x/y.h>), the public header including src/, a folder that
# src/LAYERS does not list, a quoted include of no file. Includes down or within a layer pass.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CHECK="$ROOT/scripts/check_layers.sh"
T=$(mktemp -d /tmp/disr_e2e_layers.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

bash "$CHECK" >"$T/real.out" || { cat "$T/real.out"; fail "the real tree does not pass"; }
grep -q "none points up" "$T/real.out" || fail "no summary on the real tree"

fresh() { rm -rf "$T/t" && mkdir "$T/t" && cp -r "$ROOT/src" "$ROOT/include" "$T/t/"; }
# expect_fail PATTERN...: the check on $T/t fails and its output matches every pattern
expect_fail() {
    local rc=0
    bash "$CHECK" "$T/t" >"$T/out" 2>&1 || rc=$?
    [ "$rc" -eq 1 ] || { cat "$T/out"; fail "check exited $rc, expected 1"; }
    for p in "$@"; do grep -q -- "$p" "$T/out" || { cat "$T/out"; fail "output lacks '$p'"; }; done
}

# an upward include in core: file, line (the appended one) and both layers are named
fresh
echo '#include "eval/report.h"' >>"$T/t/src/core/rng.c"
n=$(wc -l <"$T/t/src/core/rng.c")
expect_fail "src/core/rng.c:$n: upward include: core includes eval/report.h of layer eval"
grep -c "upward include" "$T/out" | grep -qx 1 || { cat "$T/out"; fail "more than the planted one"; }

# the same with angle brackets, in a header, one layer up
fresh
sed -i '0,/#include <stdint.h>/s//#include <stdint.h>\n#include <model\/model.h>/' "$T/t/src/core/tensor.h"
expect_fail "src/core/tensor.h:[0-9]*: upward include: core includes model/model.h of layer model"

# train above world: world may not include train
fresh
echo '#include "train/trainer.h"' >>"$T/t/src/world/grader.c"
expect_fail "src/world/grader.c:[0-9]*: upward include: world includes train/trainer.h of layer train"

# the public header is the bottom
fresh
echo '#include "core/err.h"' >>"$T/t/include/disr.h"
expect_fail "include/disr.h:[0-9]*: upward include: include includes core/err.h of layer core"

# a folder the order does not know, and an include of no file
fresh
mkdir "$T/t/src/extra" && echo '#include "core/err.h"' >"$T/t/src/extra/x.c"
expect_fail "src/extra/x.c: folder 'extra' is not a layer of src/LAYERS"
fresh
echo '#include "core/nothing.h"' >>"$T/t/src/core/rng.c"
expect_fail "src/core/rng.c:[0-9]*: includes \"core/nothing.h\", which is no file"

# downward and same-layer includes pass; cli may include anything
fresh
echo '#include "core/err.h"' >>"$T/t/src/eval/report.c"
echo '#include "eval/methods.h"' >>"$T/t/src/eval/report.c"
echo '#include "eval/report.h"' >>"$T/t/src/cli/main.c"
bash "$CHECK" "$T/t" >"$T/out" || { cat "$T/out"; fail "a downward include was refused"; }

# the order is read from src/LAYERS: swapping world and train makes today's tree fail
fresh
sed -i 's/^world$/TMP/; s/^train$/world/; s/^TMP$/train/' "$T/t/src/LAYERS"
expect_fail "upward include: train includes world/"
echo "layers e2e ok"
