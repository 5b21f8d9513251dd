#!/usr/bin/env bash
# fuzz.sh — build the fuzz targets with clang (libFuzzer) and run each for a
# short while (the ctest entries labelled fuzz). Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
CC=clang cmake -S . -B build-fuzz -DBATON_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target etcd_fuzz_gateway
cd build-fuzz
ctest --output-on-failure -L fuzz "$@"
