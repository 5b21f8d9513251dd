#!/usr/bin/env bash
# test.sh — build baton and run every test against real servers it starts
# itself. `scripts/test.sh --sanitize` does the same in an ASan+UBSan build.
# Extra arguments go to ctest (e.g. -L redis, -R conformance.etcd).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/build-env.sh "$@"
[ "$sanitize" = 1 ] && shift
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure --timeout 900 "$@"
