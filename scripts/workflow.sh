#!/usr/bin/env bash
# workflow.sh — a long workflow that survives fail-over, on each backend,
# in about a minute: three replicas of demo/workflow run N steps of about
# 200 ms; whichever leads runs them, and each step's result goes to a
# fenced store as a compare-and-set on (step, token).
#
# The script SIGKILLs the leader mid-step, then SIGSTOPs the next one
# mid-step past the TTL and resumes it once a third has taken over. It
# prints the timeline: who resumed at which checkpoint, and the stale
# holder's late step refused. Its last lines say, per backend, whether
# every step was accepted exactly once; it exits non-zero when not.
#
#   scripts/workflow.sh [--short] [BACKEND...]   (default: etcd zk redis)
#
# --short: 12 steps of 100 ms (what CI runs). Everything it starts is
# stopped on exit, also when interrupted; it only signals what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

TTL=2s
STEPS=30
STEP_TIME=200ms
NAME=workflow
backends=()
for arg in "$@"; do
  if [ "$arg" = --short ]; then STEPS=12; STEP_TIME=100ms; else backends+=("$arg"); fi
done
[ ${#backends[@]} -gt 0 ] || backends=(etcd zk redis)

DEMO=workflow
source scripts/demo-kit.sh
REPLICA=$build/demo/workflow
declare -a summary=()
all_once=yes

# ---- reading the store's log ----------------------------------------------
# A step's line: TIME token=T writer=W accepted|refused highest=H mono=M
#                data=step=K checkpoint=C [why=...] result-of-step-K

# The first accepted step with a token above $2 in log $1: "TIME TOKEN WRITER STEP".
step_leader_after() {
  awk -v min="$2" '$4 == "accepted" && $7 ~ /^data=step=/ {
      t = $2; sub("token=", "", t); w = $3; sub("writer=", "", w)
      k = $7; sub("data=step=", "", k)
      if (t + 0 > min + 0) { print $1, t, w, k; exit } }' "$1"
}
has_step_leader_after() { [ -n "$(step_leader_after "$1" "$2")" ]; }
# Whether log $1 holds at least $3 accepted steps with token $2.
stepped() { [ "$(grep -c "token=$2 writer=.* accepted .* data=step=" "$1" || true)" -ge "$3" ]; }
refused_step_from() { grep -q " writer=$2 refused .* data=step=" "$1"; }
# Whether every replica (PIDs in $@) has exited.
all_exited() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }

# next_step_leader LOG TOKEN SINCE WHAT: wait for a replica stepping with a
# token above TOKEN, print where it resumed; let it accept 2 steps. Sets
# lead_token, lead_id and lead_failover.
next_step_leader() {
  wait_until 30 has_step_leader_after "$1" "$2" || die "no replica took over after the $4"
  local t k
  read -r t lead_token lead_id k < <(step_leader_after "$1" "$2")
  lead_failover=$(secs "$3" "$t")
  say "$t" "$lead_id resumes at step $k (checkpoint $((k - 1))) with token $lead_token ($lead_failover after the $4)"
  wait_until 20 stepped "$1" "$lead_token" 2 || die "$lead_id does not step on"
}

# The verdict: every step 1..N accepted exactly once, and no other step.
# Prints what is wrong.
exactly_once() { # LOG
  awk -v n="$STEPS" '$4 == "accepted" && $7 ~ /^data=step=/ {
      k = $7; sub("data=step=", "", k); seen[k]++ }
    END { bad = 0
      for (k = 1; k <= n; k++)
        if (seen[k] != 1) { printf "    step %d accepted %d times\n", k, seen[k]; bad = 1 }
      for (k in seen)
        if (k + 0 < 1 || k + 0 > n) { printf "    step %s accepted, outside 1..%d\n", k, n; bad = 1 }
      exit bad }' "$1"
}

# ---- one backend ---------------------------------------------------------

workflow_backend() {
  [ -n "${uri[$1]:-}" ] || die "no server for backend '$1'"
  local b=$1 u=${uri[$1]} log="$tmp/store-$b.log" addr="unix:$tmp/store-$b.sock"
  local -A pid=()
  echo
  echo "== $b ($u): $STEPS steps of $STEP_TIME by three replicas of '$NAME', ttl $TTL =="
  T0=$(now)
  local store_pid
  start_store "$log" "$addr"
  local id
  for id in "$b-a" "$b-b" "$b-c"; do
    "$REPLICA" --backend "$u" --name "$NAME" --store "$addr" --steps "$STEPS" \
      --step-time "$STEP_TIME" --ttl "$TTL" --identity "$id" --give-up 2m \
      >"$tmp/$id.out" 2>&1 &
    pid[$id]=$!
    started+=("${pid[$id]}")
  done

  # 1. The first leader runs a few steps.
  wait_until 20 has_step_leader_after "$log" 0 || die "$b: no replica ran a step"
  local t1 tok1 l1 k1
  read -r t1 tok1 l1 k1 < <(step_leader_after "$log" 0)
  say "$t1" "$l1 leads with token $tok1 and runs step $k1"
  wait_until 20 stepped "$log" "$tok1" 3 || die "$b: $l1 does not step on"

  # 2. SIGKILL it mid-step: right after an accepted step it is in the next.
  local tk; tk=$(now)
  kill -KILL "${pid[$l1]}"
  wait "${pid[$l1]}" 2>/dev/null || true
  forget "${pid[$l1]}"
  unset "pid[$l1]"
  say "$tk" "SIGKILL $l1 in the middle of a step"
  next_step_leader "$log" "$tok1" "$tk" kill
  local tok2=$lead_token l2=$lead_id fo1=$lead_failover

  # 3. SIGSTOP the next leader mid-step, past the ttl: a third takes over.
  local ts; ts=$(now)
  kill -STOP "${pid[$l2]}"
  say "$ts" "SIGSTOP $l2 in the middle of a step (a process pause)"
  next_step_leader "$log" "$tok2" "$ts" pause
  local fo2=$lead_failover

  # 4. Resume it: it finishes its step and sends it with token $tok2.
  local tc; tc=$(now)
  kill -CONT "${pid[$l2]}"
  say "$tc" "SIGCONT $l2: it finishes its step and sends it with token $tok2"
  local late=no
  if wait_until 5 refused_step_from "$log" "$l2"; then
    local line; line=$(grep -m1 " writer=$l2 refused .* data=step=" "$log")
    local k=${line##*data=step=}; k=${k%% *}
    local why=${line##*why=}; why=${why%% *}
    local highest=${line##*highest=}; highest=${highest%% *}
    local because="token $tok2 < $highest"
    [ "$why" = stale-token ] || because="not the next step"
    say "${line%% *}" "the store refused its late step $k ($why: $because)"
    late=yes
  else
    say "$(now)" "(no late step of $l2 reached the store)"
  fi

  # 5. The rest runs to the end; every replica then finds nothing left.
  wait_until 120 all_exited "${pid[@]}" || die "$b: the replicas did not finish"
  local p
  for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; forget "$p"; done
  stop_pids "$store_pid"
  forget "$store_pid"
  local done_line; done_line=$(grep -h "done:" "$tmp/$b-"*.out | head -1 || true)
  say "$(now)" "${done_line:-(nobody said done)}"
  local accepted refused verdict
  accepted=$(grep -c ' accepted .* data=step=' "$log" || true)
  refused=$(grep -c ' refused .* data=step=' "$log" || true)
  if exactly_once "$log" >"$tmp/verdict-$b"; then
    verdict="every step accepted exactly once"
  else
    verdict="NOT exactly once:"
    all_once=no
  fi
  echo "  store: $accepted steps accepted, $refused refused; $verdict"
  cat "$tmp/verdict-$b"
  [ "$late" = yes ] || verdict="$verdict (no late step to refuse)"
  summary+=("$(printf '%-8s %-14s %-14s %-9s %s' "$b" "$fo1" "$fo2" "$refused" "$verdict")")
}

demo_build workflow fenced-store
demo_servers "${backends[@]}"
for b in "${backends[@]}"; do workflow_backend "$b"; done

echo
echo "summary ($STEPS steps of $STEP_TIME, ttl $TTL): fail-over = from the fault to the next step accepted"
printf '%-8s %-14s %-14s %-9s %s\n' backend "after SIGKILL" "after SIGSTOP" refused verdict
for line in "${summary[@]}"; do echo "$line"; done
[ "$all_once" = yes ]
