#!/usr/bin/env bash
# test.sh — build baton and run every test against real servers it starts
# itself. `scripts/test.sh --sanitize` does the same in an ASan+UBSan build.
# Extra arguments go to ctest (e.g. -L redis, -R conformance.etcd).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

build=build
flags=()
if [ "${1:-}" = "--sanitize" ]; then
  shift
  build=build-asan
  flags=(-DBATON_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
fi
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure --timeout 900 "$@"
