#!/usr/bin/env bash
# bench.sh — build baton in Release and run its benchmarks against servers
# started on loopback: `scripts/bench.sh [--backend redis|etcd|zk|all]
# [--quick] [--out FILE]`. Prints a table; writes bench/results/latest.json.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BATON_BENCH_BUILD:-build-bench}
flags=(-DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_TESTS=ON -DBATON_BUILD_BENCH=ON
       -DBATON_BUILD_DEMO=OFF -DBATON_SANITIZE=OFF)
# A backend whose sources are not there yet is left out of the build (its
# benchmarks then report "not built" instead of breaking the configure).
for b in redis etcd zk; do
  src=$(sed -n 's|.*list(APPEND BATON_SOURCES \(backends/[^ )]*\).*|\1|p' "backends/$b/backend.cmake")
  if [ -n "$src" ] && [ ! -f "$src" ]; then
    echo "bench: backends/$b is not there yet; building without it" >&2
    flags+=("-DBATON_WITH_${b^^}=OFF")
  else
    flags+=("-DBATON_WITH_${b^^}=ON")
  fi
done
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_all >/dev/null
exec /usr/bin/python3 bench/run.py --build "$build" "$@"
