#!/usr/bin/env bash
# Runs every test suite: each cmocka unit-test binary in $BUILD/tests, then each end-to-end
# script in tests/e2e (which start real processes on loopback). Prints one closing line
# "N passed, N failed" over all suites and exits non-zero if any failed.
set -u
BUILD=${BUILD:-build}
export DISR_BIN="$PWD/$BUILD/disr"
export DISR_BUILD="$BUILD"
export DISR_QUICK=1
passed=0; failed=0; failed_names=()
run_one() {
    local name=$1; shift
    local t0=$SECONDS
    if "$@"; then passed=$((passed + 1)); echo "ok   $name ($((SECONDS - t0))s)"
    else failed=$((failed + 1)); failed_names+=("$name"); echo "FAIL $name ($((SECONDS - t0))s)"; fi
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "unit/$(basename "$t")" "$t"
done
for e in tests/e2e/*.sh; do
    [ -f "$e" ] || continue
    run_one "e2e/$(basename "$e" .sh)" bash "$e"
done
[ ${#failed_names[@]} -gt 0 ] && echo "failed suites: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
