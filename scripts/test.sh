#!/usr/bin/env bash
# The test command: builds with -Werror and runs every suite, then rebuilds the same suite with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs it again.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
bash scripts/install-deps.sh
make -j"$JOBS" all
make test
make -j"$JOBS" all SAN=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    make test SAN=1
