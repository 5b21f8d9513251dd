#!/usr/bin/env bash
# bench.sh — build baton in Release and run its benchmarks against servers
# started on loopback: `scripts/bench.sh [--backend redis|etcd|zk|postgres|redlock3|redlock5|sentinel|all]
# [--quick] [--out FILE] [--pin CPUS] [--only MEASUREMENTS] [--names N]`. Prints a
# table; writes bench/results/latest.json (or FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

build=${BATON_BENCH_BUILD:-build-bench}
flags=(-DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_TESTS=ON -DBATON_BUILD_BENCH=ON
       -DBATON_BUILD_CLI=OFF -DBATON_BUILD_DEMO=OFF -DBATON_SANITIZE=OFF)
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_all >/dev/null
exec /usr/bin/python3 bench/run.py --build "$build" "$@"
