#!/usr/bin/env bash
# faults.sh — the fault-injection suite: builds baton and runs
# `baton-faults`, which starts real servers (one node and three), N
# `baton run` candidates behind fault-injecting proxies, injects faults
# drawn from a printed seed, checks the safety model on what happened and
# prints one table per backend. Exit 0 when every invariant holds.
#
#   scripts/faults.sh                       # --short: each fault kind once per backend (CI)
#   scripts/faults.sh --duration 30m        # a long run, split over the deployments
#   scripts/faults.sh --backend zk --seed 42 --duration 5m
#   scripts/faults.sh --sanitize --short    # the same in the ASan+UBSan build
#
# Other options: --ttl D, --candidates N, --bound D, --cluster-bound D,
# --out DIR, --keep, -v; `--check DIR...` re-checks kept records.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

build=build
flags=()
if [ "${1:-}" = "--sanitize" ]; then
  shift
  build=build-asan
  flags=(-DBATON_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  # The ZooKeeper C client leaks its own state of a request in flight when
  # a handle closes (tests/zk/lsan.supp): that library only is suppressed.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/zk/lsan.supp
fi
mode=(--short)
for a in "$@"; do
  case $a in --short | --duration | --duration=* | --check | --help | -h) mode=() ;; esac
done
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target baton-faults
exec "$build/tests/baton-faults" "${mode[@]}" "$@"
