#!/usr/bin/env bash
# demo.sh — the README's demo: fail-over and fencing on etcd, ZooKeeper and
# Redis, in about a minute, on throwaway servers on loopback.
#
# For each backend three `baton run` candidates run a command that writes
# to a fenced store every 100 ms with its term's token. The demo SIGKILLs
# the leader (its command dies with it), then SIGSTOPs the next leader and
# its command past the TTL, lets a third take over, and resumes the paused
# command: the store refuses its stale writes. It prints who led, with which
# token, how long each fail-over took, and which writes were refused, and
# ends with a `baton status` of each backend and a sample of the metrics
# one candidate kept (--metrics-file).
#
#   scripts/demo.sh [BACKEND...]      (default: etcd zk redis)
#
# Everything it starts is stopped on exit, also when interrupted; it only
# signals processes it started (and, for the pause, one candidate's command).
set -euo pipefail
cd "$(dirname "$0")/.."

TTL=2s
NAME=demo
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(etcd zk redis)

DEMO=demo
source scripts/demo-kit.sh
declare -a summary=()
sample=""               # the last leader's metrics file, kept for the end

# ---- helpers -------------------------------------------------------------

# The first accepted write with a token above $2 in store log $1:
# prints "TIME TOKEN WRITER".
leader_after() {
  awk -v min="$2" '$4 == "accepted" {
      t = $2; sub("token=", "", t); w = $3; sub("writer=", "", w)
      if (t + 0 > min + 0) { print $1, t, w; exit } }' "$1"
}
has_leader_after() { [ -n "$(leader_after "$1" "$2")" ]; }
refused_from() { grep -q " writer=$2 refused " "$1"; }
# Whether store log $1 holds at least $3 accepted writes with token $2.
wrote() { [ "$(grep -c "token=$2 writer=.* accepted " "$1" || true)" -ge "$3" ]; }

# next_leader LOG TOKEN SINCE WHAT: wait for a leader with a token above
# TOKEN, print it with the fail-over time since SINCE, let it write a few
# times; sets lead_t, lead_token, lead_id and lead_failover.
next_leader() {
  wait_until 30 has_leader_after "$1" "$2" || die "no fail-over after the $4"
  read -r lead_t lead_token lead_id < <(leader_after "$1" "$2")
  lead_failover=$(secs "$3" "$lead_t")
  say "$lead_t" "$lead_id leads with token $lead_token (fail-over $lead_failover after the $4)"
  wait_until 10 wrote "$1" "$lead_token" 5 || die "$lead_id does not write"
}

# The process group of the command a candidate's baton started last (from
# its -v log): the group's leader is baton's guard, CMD runs in it.
command_group() { sed -n 's/.*started .* (process group \([0-9]*\)).*/\1/p' "$1" | tail -1; }

demo_build baton fenced-store
demo_servers "${backends[@]}"

# ---- one backend ---------------------------------------------------------

demo_backend() {
  local b=$1 u=${uri[$1]} store_log="$tmp/store-$b.log" addr="unix:$tmp/store-$b.sock"
  local -A pid=()
  echo
  echo "== $b ($u): three candidates for '$NAME', ttl $TTL, each writing every 100 ms =="
  T0=$(now) # the timeline below counts from here
  local store_pid
  start_store "$store_log" "$addr"

  local id
  for id in "$b-a" "$b-b" "$b-c"; do
    "$BATON" run -v --backend "$u" --name "$NAME" --ttl "$TTL" --identity "$id" \
      --metrics-file "$tmp/metrics-$id.prom" -- \
      sh -c "while :; do '$STORE' write --addr '$addr' tick >/dev/null 2>&1; sleep 0.1; done" \
      2>"$tmp/$id.log" &
    pid[$id]=$!
    started+=("${pid[$id]}")
  done

  # 1. The first leader.
  wait_until 20 has_leader_after "$store_log" 0 || die "$b: nobody was elected"
  local t1 tok1 l1
  read -r t1 tok1 l1 < <(leader_after "$store_log" 0)
  say "$t1" "$l1 leads with token $tok1"
  wait_until 10 wrote "$store_log" "$tok1" 5 || die "$b: $l1 does not write"

  # 2. SIGKILL its baton: the command dies with it (parent-death signal),
  #    the server expires the term after the ttl, another candidate leads.
  local cmd1; cmd1=$(command_group "$tmp/$l1.log")
  local tk; tk=$(now)
  kill -KILL "${pid[$l1]}"
  wait "${pid[$l1]}" 2>/dev/null || true
  forget "${pid[$l1]}"
  unset "pid[$l1]"
  local gone=no
  wait_until 2 eval "! kill -0 -- -$cmd1 2>/dev/null" && gone=yes
  say "$tk" "SIGKILL $l1's baton; its command's process group $cmd1 gone: $gone"
  next_leader "$store_log" "$tok1" "$tk" kill
  local tok2=$lead_token l2=$lead_id fo1=$lead_failover

  # 3. SIGSTOP the new leader, baton and command, past the ttl.
  local cmd2; cmd2=$(command_group "$tmp/$l2.log")
  local ts; ts=$(now)
  kill -STOP "${pid[$l2]}"
  kill -STOP -- "-$cmd2"
  paused_group=$cmd2
  say "$ts" "SIGSTOP $l2 (baton and command): a process pause"
  next_leader "$store_log" "$tok2" "$ts" pause
  local fo2=$lead_failover l3=$lead_id

  # 4. Resume the paused command first: it still believes in token $tok2.
  local tc; tc=$(now)
  kill -CONT -- "-$cmd2"
  paused_group=""
  say "$tc" "SIGCONT $l2's command: it writes on with token $tok2"
  if wait_until 5 refused_from "$store_log" "$l2"; then
    local line; line=$(grep -m1 " writer=$l2 refused " "$store_log")
    local highest=${line##*highest=}
    say "${line%% *}" "the store refused it: token $tok2 < highest ${highest%% *}"
  else
    say "$(now)" "(no write of $l2 reached the store before its baton resumed)"
  fi
  # Then its baton: the term is past its deadline, it kills the command.
  local tb; tb=$(now)
  kill -CONT "${pid[$l2]}"
  wait_until 5 grep -q "ends:" "$tmp/$l2.log" || true
  local ends; ends=$(grep -m1 "ends:" "$tmp/$l2.log" | sed 's/^baton: //; s/ to process group .*//')
  say "$tb" "SIGCONT $l2's baton: ${ends:-?}"

  # What `baton status` says now, kept for the end: the leader, its TTL
  # left on the server and the queue behind it.
  "$BATON" status --backend "$u" --name "$NAME" >"$tmp/status-$b.txt" 2>&1 || true

  # 5. Stop this backend's processes; tell what the store saw. The last
  #    leader's metrics, as its baton left them on exit, are kept.
  stop_pids "${pid[@]}" "$store_pid"
  cp "$tmp/metrics-$l3.prom" "$tmp/sample.prom" 2>/dev/null && sample="$l3 ($b)"
  started=()
  local accepted refused
  accepted=$(grep -c ' accepted ' "$store_log" || true)
  refused=$(grep -c ' refused ' "$store_log" || true)
  echo "  store: $accepted writes accepted, $refused refused:"
  grep ' refused ' "$store_log" | while read -r t rest; do
    printf '    %s  %s\n' "$(rel "$t")" "$rest"
  done
  summary+=("$(printf '%-8s %-18s %-18s %s' "$b" "$fo1" "$fo2" "$refused")")
}

for b in "${backends[@]}"; do demo_backend "$b"; done

echo
echo "summary (ttl $TTL): fail-over = from the fault to the next leader's first accepted write"
printf '%-8s %-18s %-18s %s\n' backend "after SIGKILL" "after SIGSTOP" "stale writes refused"
for line in "${summary[@]}"; do echo "$line"; done

echo
echo "baton status of each backend, taken before its candidates stopped:"
for b in "${backends[@]}"; do
  echo "  \$ baton status --backend ${uri[$b]} --name $NAME"
  sed 's/^/    /' "$tmp/status-$b.txt"
done

if [ -n "$sample" ]; then
  echo
  echo "metrics of $sample as its baton left them on exit (baton run --metrics-file;"
  echo "buckets and zero counts left out):"
  grep -v -e '^#' -e '_bucket{' -e ' 0$' -e ' 0\.0*$' "$tmp/sample.prom" | sed 's/^/  /'
fi
