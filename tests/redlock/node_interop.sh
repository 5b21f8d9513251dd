#!/usr/bin/env bash
# node_interop.sh — baton and node-redlock on one key over the same three
# Redis servers exclude each other both ways (issue 11, optional interop).
# Not a ctest entry: node-redlock is not a Debian package. Needs `node`
# and a folder with `npm install redlock@5.0.0-beta.2 ioredis@5` in it:
#   tests/redlock/node_interop.sh BUILD_DIR NODE_MODULES_PARENT
# Exit 0 when both ways hold. Servers from baton-test-servers, stopped
# when its standard input closes.
set -euo pipefail
build=$(cd "$1" && pwd)
mods=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
lock() { NODE_PATH="$mods/node_modules" node "$here/node_lock.js" "$@"; }

coproc SERVERS { "$build/tests/baton-test-servers" redlock3; }
uri=""
while read -r -t 30 kind u _ <&"${SERVERS[0]}"; do
  [ "$kind" = redlock3 ] && uri=$u
  [ "$kind" = ready ] && break
done
[ -n "$uri" ] || { echo "no servers"; exit 1; }
ports=$(echo "${uri#redlock://}" | sed 's/127\.0\.0\.1://g')
fail=0

# 1. node-redlock holds; baton waits and is elected soon after its release.
lock "$ports" hold 1500 interop-a > node.out &
node_pid=$!
sleep 0.5
held=$("$build/cli/baton" leader --backend "$uri" --name interop-a || true)
echo "while node-redlock holds, baton leader: $held"
timeout 15 "$build/cli/baton" campaign --backend "$uri" --name interop-a --ttl 2s > baton.out &
baton_pid=$!
wait "$node_pid"
for _ in $(seq 1 100); do grep -q elected baton.out && break; sleep 0.02; done
released=$(awk '/released/{print $3}' node.out)
token=$(awk '/elected/{sub("token=", "", $2); print $2}' baton.out)
[ -n "$token" ] || { echo "FAIL: baton not elected after node-redlock's release"; fail=1; }
# baton's token is the servers' clock in microseconds at its vote.
[ -n "$token" ] && echo "baton elected $(( token / 1000 - released )) ms after node-redlock released"
kill -INT "$baton_pid"; wait "$baton_pid" || true

# 2. baton holds (past its TTL, renewed); node-redlock is refused.
timeout 15 "$build/cli/baton" campaign --backend "$uri" --name interop-b --ttl 2s > baton.out &
baton_pid=$!
for _ in $(seq 1 100); do grep -q elected baton.out && break; sleep 0.05; done
sleep 2.5
out=$(lock "$ports" try 0 interop-b)
echo "while baton holds, $out"
case $out in *refused*) ;; *) echo "FAIL: node-redlock acquired a key baton holds"; fail=1 ;; esac
kill -INT "$baton_pid"; wait "$baton_pid" || true
out=$(lock "$ports" try 0 interop-b)
echo "after baton resigned, $out"
case $out in *acquired*) ;; *) echo "FAIL: node-redlock refused after baton resigned"; fail=1 ;; esac

exec {SERVERS[1]}>&- # the servers stop
rm -f node.out baton.out
[ "$fail" = 0 ] && echo "interop: both ways hold"
exit "$fail"
