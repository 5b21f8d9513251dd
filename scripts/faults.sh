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
source scripts/build-env.sh "$@"
[ "$sanitize" = 1 ] && shift
mode=(--short)
for a in "$@"; do
  case $a in --short | --duration | --duration=* | --check | --help | -h) mode=() ;; esac
done
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target baton-faults
exec "$build/tests/baton-faults" "${mode[@]}" "$@"
