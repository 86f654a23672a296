#!/usr/bin/env bash
# Installs every Debian package DiSRouter needs to build, test, plot and benchmark.
set -euo pipefail
PKGS="build-essential clang libclang-rt-14-dev pkg-config libopenblas-dev libmicrohttpd-dev libcurl4-openssl-dev
      libcjson-dev libcmocka-dev gnuplot-nox python3-torch python3-numpy nginx iproute2 curl
      nodejs wrk"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# The peer implementations the tests compare against (tests/peer: Hugging Face tokenizers with
# real vocabularies, the Jinja chat-template renderer), at the versions of its lockfile; a copy
# of the lockfile in node_modules marks a finished install.
if ! command -v npm >/dev/null; then # Debian's nodejs comes without npm; others include it
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
fi
peer="$(cd "$(dirname "$0")/.." && pwd)/tests/peer"
if ! cmp -s "$peer/package-lock.json" "$peer/node_modules/.disr-installed" 2>/dev/null; then
    (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$peer/package-lock.json" "$peer/node_modules/.disr-installed"
fi
