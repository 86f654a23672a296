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
