# demo-kit.sh — what scripts/demo.sh and scripts/workflow.sh share: the
# clean-up of everything they start (and nothing else), a timeline, bounded
# waits, the build and the throwaway servers. Sourced, not run; the caller
# sets -euo pipefail, cds to the project and sets DEMO (its name).
#
# BATON_DEMO_BUILD=DIR uses the binaries already built in DIR (as ctest
# does) instead of installing dependencies and building into build/.
# BATON_DEMO_KEEP=1 keeps the logs.

build=${BATON_DEMO_BUILD:-$PWD/build}
BATON=$build/cli/baton
STORE=$build/demo/fenced-store
tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-$DEMO-XXXXXX")
servers_pid=""
build_group=""         # the build's process group while it runs
declare -a started=()   # every PID this script started (batons, stores, replicas)
paused_group=""         # a process group while it is SIGSTOPped
declare -A uri=()       # backend -> URI of its throwaway server

# ---- cleanup: only what we started -------------------------------------

stop_pids() { # PID... : SIGTERM (after SIGCONT), wait up to 5 s, then SIGKILL
  local pid i
  for pid in "$@"; do kill -CONT "$pid" 2>/dev/null || true; kill -TERM "$pid" 2>/dev/null || true; done
  for i in $(seq 100); do
    local alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.05
  done
  for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$build_group" ] && kill -TERM -- "-$build_group" 2>/dev/null || true
  [ -n "$paused_group" ] && kill -CONT -- "-$paused_group" 2>/dev/null || true
  [ ${#started[@]} -gt 0 ] && stop_pids "${started[@]}"
  if [ -n "$servers_pid" ]; then
    exec 7>&- 2>/dev/null || true   # its stdin closes: it stops the servers
    stop_pids "$servers_pid"
  fi
  if [ -n "${BATON_DEMO_KEEP:-}" ]; then echo "logs kept in $tmp"; else rm -rf "$tmp"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers -------------------------------------------------------------

now() { date +%s.%3N; }
T0=$(now)
rel() { awk -v t="$1" -v z="$T0" 'BEGIN { printf "%+7.2fs", t - z }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f s", b - a }'; }
say() { printf '  %s  %s\n' "$(rel "$1")" "$2"; }
die() { echo "$DEMO: $*" >&2; exit 1; }
forget() { # PID: reaped, so never to be signalled again (its number may be reused)
  local keep=() p
  for p in "${started[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  started=("${keep[@]}")
}

# wait_until TIMEOUT_S CMD...: poll CMD every 50 ms, bounded.
wait_until() {
  local limit=$(( $1 * 20 )) i; shift
  for ((i = 0; i < limit; i++)); do "$@" && return 0; sleep 0.05; done
  return 1
}

# ---- build ---------------------------------------------------------------

demo_build() { # TARGET...
  [ -n "${BATON_DEMO_BUILD:-}" ] && return 0
  scripts/deps.sh
  echo "building (cmake into build/) ..."
  # A job of its own (set -m gives it a process group), waited for: a signal
  # to this script takes effect at once, and stops the whole build.
  set -m
  { cmake -S . -B build >"$tmp/build.log" &&
    cmake --build build -j"$(nproc)" --target "$@" baton-test-servers >>"$tmp/build.log"
  } 2>&1 &
  build_group=$!
  set +m
  wait "$build_group" || die "the build failed: $(tail -20 "$tmp/build.log")"
  build_group=""
}

# ---- servers -------------------------------------------------------------

demo_servers() { # BACKEND...: start them, fill uri[]
  echo "starting throwaway servers: $* ..."
  mkfifo "$tmp/servers.in"
  "$build/tests/baton-test-servers" "$@" <"$tmp/servers.in" >"$tmp/servers.out" 2>"$tmp/servers.err" &
  servers_pid=$!
  exec 7>"$tmp/servers.in"
  wait_until 90 grep -q '^ready$' "$tmp/servers.out" ||
    die "servers did not start: $(cat "$tmp/servers.err")"
  local kind u _
  while read -r kind u _; do [ "$kind" = ready ] || uri[$kind]=$u; done <"$tmp/servers.out"
}

# start_store LOG ADDR: a fenced-store serving ADDR, logging to LOG; sets store_pid.
start_store() {
  : >"$1" # before the wait below reads it: the store's shell may create it later
  "$STORE" serve --addr "$2" >"$1" 2>"$1.err" &
  store_pid=$!
  started+=("$store_pid")
  wait_until 10 grep -q '^listening' "$1" || die "fenced-store did not start: $(cat "$1.err")"
}
