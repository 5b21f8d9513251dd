#!/usr/bin/env bash
# etcd_stale_leader.sh — shows, with curl alone and no baton code, the etcd
# server bug that the fault suite counts apart (etcd#15247, fixed by etcd
# PR #16822, 3.4 backport PR #17465; Debian 12's etcd 3.4.23 has it): a
# Raft leader that was stopped (SIGSTOP, like a long GC or I/O stall)
# revokes, when it resumes, leases that expired in its stale view, although
# they were kept alive through the new leader all along.
#
# Each round: 5 leases with TTL 2 s, kept alive every 400 ms through a
# follower; the leader is SIGSTOPped for 4 s, resumed; then every lease
# must still live. A lease with TTL -1 shows the bug (it is a race on
# resume: some rounds show none).
#
#   tests/fault/etcd_stale_leader.sh [ROUNDS]     (needs build/tests/baton-test-servers)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-8}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-etcd-stale-XXXXXX")
mkfifo "$tmp/in"
build/tests/baton-test-servers etcd3 <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
servers=$!
exec 7>"$tmp/in"
keeper=""
cleanup() {
  [ -n "$keeper" ] && kill "$keeper" 2>/dev/null
  exec 7>&- # the servers' stdin closes: they stop their members by PID
  wait "$servers" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 300); do grep -q '^ready$' "$tmp/out" && break; sleep 0.1; done
grep -q '^ready$' "$tmp/out" || { cat "$tmp/err"; exit 1; }
read -r _ uri pids <"$tmp/out"
IFS=, read -r -a port <<<"$(echo "${uri#etcd://}" | sed 's/127.0.0.1://g')"
IFS=, read -r -a pid <<<"$pids"

post() { curl -s -m 1 -XPOST "http://127.0.0.1:$1/v3/$2" -d "$3"; }
num() { grep -o "\"$1\":\"[-0-9]*\"" | grep -o '[-0-9]*' || true; }

revoked=0
for round in $(seq "$rounds"); do
  lead=-1
  for i in 0 1 2; do
    s=$(post "${port[$i]}" maintenance/status '{}')
    [ -n "$(echo "$s" | num member_id)" ] && [ "$(echo "$s" | num member_id)" = "$(echo "$s" | num leader)" ] && lead=$i
  done
  [ "$lead" -ge 0 ] || { echo "round $round: no leader"; continue; }
  f=${port[$(((lead + 1) % 3))]}
  ids=()
  for _ in 1 2 3 4 5; do ids+=("$(post "$f" lease/grant '{"TTL":2}' | num ID)"); done
  (for _ in $(seq 40); do
    for id in "${ids[@]}"; do post "$f" lease/keepalive "{\"ID\":\"$id\"}" >/dev/null || true; done
    sleep 0.4
  done) &
  keeper=$!
  sleep 1
  kill -STOP "${pid[$lead]}"
  sleep 4
  kill -CONT "${pid[$lead]}"
  sleep 2
  ttls=""
  for id in "${ids[@]}"; do
    ttl=$(post "$f" lease/timetolive "{\"ID\":\"$id\"}" | num TTL)
    ttls+=" ${ttl:-?}"
    [ "${ttl:-0}" = "-1" ] && revoked=$((revoked + 1))
  done
  kill "$keeper" 2>/dev/null || true
  wait "$keeper" 2>/dev/null || true
  keeper=""
  echo "round $round: leader was member $lead; TTLs of 5 leases kept alive through a follower:$ttls"
  sleep 2
done
echo "$revoked of $((rounds * 5)) leases revoked while kept alive"
