#!/usr/bin/env bash
# The main job: install dependencies, build, run `disr demo` (extra arguments are passed on,
# e.g. `bash scripts/demo.sh --quick`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
make -j2 build/disr
exec build/disr demo "$@"
