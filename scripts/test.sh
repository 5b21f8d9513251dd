#!/usr/bin/env bash
# test.sh — build baton and run every test against real servers it starts
# itself. `scripts/test.sh --sanitize` does the same in an ASan+UBSan build.
# `scripts/test.sh --tsan` builds with ThreadSanitizer and runs the core's
# tests (unit_*: the model, the stats read from many threads) unless other
# ctest arguments say otherwise. Extra arguments go to ctest (e.g. -L
# redis, -R conformance.etcd).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/build-env.sh "$@"
[ "$sanitize" = 1 ] && shift
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
if [ "$tsan" = 1 ] && [ $# -eq 0 ]; then
  set -- -R '^unit_'
fi
ctest --output-on-failure --timeout 900 "$@"
