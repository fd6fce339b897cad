#!/bin/bash
# bench/run.sh: runs every workload against every server and prints the
# table (bench/report.lua). Called by `make bench` (QUICK=1: one run per
# point, shorter loads). Everything stays on 127.0.0.x; every server and
# client is bounded by a timeout, so the whole run stops by itself.
#
# Server CPU = user + system CPU time of the server process over the
# client's run (its process CPU clock: the utime+stime of /proc/PID/stat at
# ns resolution). The server is pinned to one core and the client to the
# other, so requests/s mostly measures the client; CPU per request ranks
# the servers.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/bench
mkdir -p "$OUT"

QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
SERVERS=${BENCH_SERVERS:-"c bare socket2 socket2-uring luv cqueues copas"}
WORKLOADS=${BENCH_WORKLOADS:-"resp resp16 http bulk churn"}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
if [ -n "$QUICK" ]; then
  RUNS=1; N=20000; HTTP_SECS=2; BULK_BYTES=$((256 << 20)); CHURN_N=2000; SYS_N=20000; CG_N=2000
else
  RUNS=3; N=200000; HTTP_SECS=5; BULK_BYTES=$((2 << 30)); CHURN_N=20000; SYS_N=100000; CG_N=10000
fi
RUNS=${BENCH_RUNS:-$RUNS}

export LUA_PATH="$ROOT/bench/?.lua;$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"
export LUA_CPATH="$ROOT/?.so;;"
LUAJIT=${LUAJIT:-luajit}
CLIENT=$OUT/c-client
RESULTS=$OUT/results.tsv
SYSCALLS=$OUT/syscalls.tsv
CALLGRIND=$OUT/callgrind.tsv
CHECKS=$OUT/checks.txt

# Servers: c, bare, socket2 (epoll), socket2-uring (SOCKET2_BACKEND=io_uring),
# the peers; and, to compare builds of a shim in one run, socket2@NAME:
# bench/socket2/server.lua on the shim $OUT/shims/NAME.so (SOCKET2_SHIM).
server_cmd() {
  case $1 in
    c) echo "$OUT/c-server" ;;
    bare) echo "$LUAJIT $ROOT/bench/bare/server.lua" ;;
    socket2*) echo "$LUAJIT $ROOT/bench/socket2/server.lua" ;;
    luv|cqueues|copas) echo "$LUAJIT $ROOT/bench/peers/$1.lua" ;;
  esac
}

# the environment of a server (set outside any WRAP, which must not trace env)
server_env() {
  case $1 in
    socket2) echo "SOCKET2_BACKEND=epoll" ;;
    socket2-uring) echo "SOCKET2_BACKEND=io_uring" ;;
    socket2@*)
      echo "SOCKET2_SHIM=$OUT/shims/${1#socket2@}.so"
      # its own Lua layer, when bench/shim_variant.sh exported one
      [ -d "$OUT/shims/${1#socket2@}.lua" ] &&
        echo "LUA_PATH=$ROOT/bench/?.lua;$OUT/shims/${1#socket2@}.lua/?.lua;$OUT/shims/${1#socket2@}.lua/?/init.lua;;"
      ;;
  esac
}

SPID=; PORT=; WRAP=; XENV=
# start_server NAME WORKLOAD: sets PORT and SPID (the server process itself)
start_server() {
  local kind=$2
  [ "$kind" = resp16 ] && kind=resp
  : > "$OUT/server.out"
  # shellcheck disable=SC2046
  env $(server_env "$1") $XENV timeout -s KILL 900 taskset -c "$SERVER_CPU" $WRAP $(server_cmd "$1") "$kind" \
    > "$OUT/server.out" 2> "$OUT/server.err" &
  local i
  for i in $(seq 1 600); do
    if grep -q '^PORT' "$OUT/server.out" 2>/dev/null; then
      read -r _ PORT _ SPID < "$OUT/server.out"
      return 0
    fi
    sleep 0.05
  done
  echo "bench: server $1 $kind did not start:" >&2
  cat "$OUT/server.err" >&2
  return 1
}

stop_server() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
  wait 2>/dev/null
  SPID=
}
trap 'stop_server; exit 130' INT TERM

cpu() { "$CLIENT" cpu "$SPID" 2>/dev/null || echo nan; }
client() { timeout -s KILL 300 taskset -c "$CLIENT_CPU" "$@"; }

# run_point SERVER WORKLOAD RUN: one measurement, appended to $RESULTS as
# workload server run units seconds server_cpu_seconds
run_point() {
  local s=$1 w=$2 r=$3 c0 c1 out
  start_server "$s" "$w" || return 1
  run_client "$s" "$w" "$r"
  if ! kill -0 "$SPID" 2>/dev/null; then
    echo "bench: the $s server died during $w (run $r):" >&2
    tail -5 "$OUT/server.err" >&2
  fi
  stop_server
}

run_client() {
  local s=$1 w=$2 r=$3 c0 c1 out
  case $w in
    resp|resp16)
      local p=""
      [ "$w" = resp16 ] && p="-P 16"
      c0=$(cpu)
      # shellcheck disable=SC2086
      out=$(client redis-benchmark -h 127.0.0.1 -p "$PORT" -t ping -c 50 -n "$N" $p --csv 2>/dev/null)
      c1=$(cpu)
      [ "$c0" = nan ] || [ "$c1" = nan ] && return
      # two tests (PING_INLINE, PING_MBULK) of N requests each
      echo "$out" | awk -F'"' -v n="$N" -v w="$w" -v s="$s" -v r="$r" -v c0="$c0" -v c1="$c1" '
        /PING_INLINE|PING_MBULK/ { t += n / $4; k++ }
        END { if (k == 2) printf "%s\t%s\t%s\t%d\t%.6f\t%.6f\n", w, s, r, 2 * n, t, c1 - c0 }' >> "$RESULTS"
      ;;
    http)
      c0=$(cpu)
      out=$(client wrk -t1 -c50 -d"${HTTP_SECS}s" "http://127.0.0.1:$PORT/" 2>&1)
      c1=$(cpu)
      [ "$c0" = nan ] || [ "$c1" = nan ] && return
      if echo "$out" | grep -qE 'Non-2xx|Socket errors'; then
        echo "bench: $s http: errors: $(echo "$out" | grep -E 'Non-2xx|Socket errors')" >&2
      fi
      echo "$out" | awk -v w="$w" -v s="$s" -v r="$r" -v c0="$c0" -v c1="$c1" '
        / requests in / { n = $1; t = $4; sub(/s,?$/, "", t) }
        END { if (n > 0) printf "%s\t%s\t%s\t%d\t%.6f\t%.6f\n", w, s, r, n, t, c1 - c0 }' >> "$RESULTS"
      ;;
    bulk)
      out=$(client "$CLIENT" bulk "$PORT" "$BULK_BYTES" "$SPID")
      echo "$out" | awk -v s="$s" -v r="$r" '
        /^BULK/ { printf "bulk-sink\t%s\t%s\t%s\t%s\t%s\n", s, r, $3, $5, $7
                  printf "bulk-source\t%s\t%s\t%s\t%s\t%s\n", s, r, $3, $9, $11 }' >> "$RESULTS"
      ;;
    churn)
      c0=$(cpu)
      out=$(client "$CLIENT" churn "$PORT" "$CHURN_N" 50 16)
      c1=$(cpu)
      [ "$c0" = nan ] || [ "$c1" = nan ] && return
      echo "$out" | awk -v s="$s" -v r="$r" -v c0="$c0" -v c1="$c1" '
        /^CHURN/ { if ($5 == 0) printf "churn\t%s\t%s\t%d\t%s\t%.6f\n", s, r, $3, $7, c1 - c0 }' >> "$RESULTS"
      ;;
  esac
}

# syscalls per request (RESP without pipelining) and per connection
# (churn): perf stat on the syscall tracepoints of the server process while
# the client runs; the churn client's last connections may still be closing
# on the server when it ends, hence the pause
syscall_point() {
  local s=$1 w=$2 pp units
  start_server "$s" "$w" || return 1
  perf stat -x, -e 'syscalls:sys_enter_*' -p "$SPID" -o "$OUT/perf.$w.$s.txt" 2>/dev/null &
  pp=$!
  sleep 0.5 # perf attaches
  if [ "$w" = churn ]; then
    units=$CHURN_N
    client "$CLIENT" churn "$PORT" "$CHURN_N" 50 16 > /dev/null
    sleep 1
  else
    units=$((2 * SYS_N))
    client redis-benchmark -h 127.0.0.1 -p "$PORT" -t ping -c 50 -n "$SYS_N" -q > /dev/null 2>&1
  fi
  kill -INT $pp; wait $pp 2>/dev/null
  awk -F, -v s="$s" -v w="$w" -v n="$units" '
    /syscalls:sys_enter_/ && $1 ~ /^[0-9]+$/ && $1 > 0 {
      name = $3; sub(/.*sys_enter_/, "", name); printf "%s\t%s\t%d\t%s\t%s\n", s, name, n, $1, w }' \
    "$OUT/perf.$w.$s.txt" >> "$SYSCALLS"
  stop_server
}

# the fallback where perf cannot read tracepoints: strace -c on the server
syscall_point_strace() {
  local s=$1
  WRAP="strace -c -f -o $OUT/strace.$s.txt"
  start_server "$s" resp || { WRAP=; return 1; }
  WRAP=
  client redis-benchmark -h 127.0.0.1 -p "$PORT" -t ping -c 50 -n "$SYS_N" -q > /dev/null 2>&1
  stop_server # strace writes its summary when the server ends
  awk -v s="$s" -v n=$((2 * SYS_N)) '
    $NF ~ /^[a-z_0-9]+$/ && $(NF-1) ~ /^[0-9]+$/ && $NF != "total" && NF >= 5 {
      printf "%s\t%s\t%d\t%s\tresp\n", s, $NF, n, ($(NF-2) ~ /^[0-9]+$/ && NF == 6) ? $(NF-2) : $(NF-1) }' \
    "$OUT/strace.$s.txt" >> "$SYSCALLS"
}

# instructions per request (callgrind), RESP without pipelining: stable on
# a busy machine, user space only (the kernel's share is in the syscalls)
callgrind_point() {
  local s=$1 f=$OUT/callgrind.$1.out
  rm -f "$f"
  WRAP="valgrind --tool=callgrind --callgrind-out-file=$f --smc-check=all-non-file --dump-instr=no"
  XENV="SOCKET2_BENCH_TICK=0.1" # see bench/socket2/server.lua
  start_server "$s" resp || { WRAP=; XENV=; return 1; }
  WRAP=; XENV=
  # a warm-up, so that LuaJIT has compiled its traces: then count N requests
  client redis-benchmark -h 127.0.0.1 -p "$PORT" -t ping_mbulk -c 50 -n "$CG_N" -q > /dev/null 2>&1
  timeout 60 callgrind_control -z "$SPID" > /dev/null 2>&1 || true
  client redis-benchmark -h 127.0.0.1 -p "$PORT" -t ping_mbulk -c 50 -n "$CG_N" -q > /dev/null 2>&1
  timeout 60 callgrind_control -d "$SPID" > /dev/null 2>&1 || true
  stop_server
  local ir=
  [ -f "$f.1" ] && ir=$(awk '/^summary:/ { print $2 }' "$f.1")
  [ -n "$ir" ] && printf '%s\t%d\t%s\n' "$s" "$CG_N" "$ir" >> "$CALLGRIND"
}

# --- the runs ----------------------------------------------------------------

: > "$RESULTS"; : > "$SYSCALLS"; : > "$CALLGRIND"; : > "$CHECKS"
t_start=$(date +%s)
{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "# kernel $(uname -r), $($LUAJIT -v | cut -d' ' -f1-2), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# server on cpu $SERVER_CPU, client on cpu $CLIENT_CPU; ${RUNS} run(s) per point${QUICK:+ (QUICK)}"
  echo "# loads: redis-benchmark -t ping -c 50 -n $N (inline + multibulk = $((2 * N)) requests), wrk -t1 -c50 -d${HTTP_SECS}s,"
  echo "#        bulk $((BULK_BYTES >> 20)) MiB each way, churn $CHURN_N connections (50 at a time, from 127.0.0.2-17)"
} > "$OUT/header.txt"
cat "$OUT/header.txt"

for r in $(seq 1 "$RUNS"); do
  for w in $WORKLOADS; do
    for s in $SERVERS; do
      printf '\rbench: run %d/%d  %-7s %-8s' "$r" "$RUNS" "$w" "$s" >&2
      run_point "$s" "$w" "$r"
    done
  done
done
printf '\r%60s\r' '' >&2

# syscalls per request
SYS_METHOD=none
if [ -n "${BENCH_NO_SYSCALLS:-}" ]; then
  :
elif perf stat -e 'syscalls:sys_enter_read' true > /dev/null 2>&1; then
  SYS_METHOD=perf
  for s in $SERVERS; do
    printf '\rbench: syscalls %-8s' "$s" >&2
    syscall_point "$s" resp
    syscall_point "$s" churn
  done
elif command -v strace > /dev/null; then
  SYS_METHOD=strace
  for s in $SERVERS; do syscall_point_strace "$s"; done
fi
printf '\r%60s\r' '' >&2

# instruction counts: socket2 vs bare vs C
if [ -z "${BENCH_NO_CALLGRIND:-}" ] && command -v valgrind > /dev/null; then
  for s in ${BENCH_CG_SERVERS:-c bare socket2 socket2-uring}; do
    printf '\rbench: callgrind %-8s' "$s" >&2
    callgrind_point "$s"
  done
  printf '\r%60s\r' '' >&2
fi

# zero allocation and trace aborts in socket2's hot loop
if [ -z "${BENCH_NO_CHECKS:-}" ]; then
  ops=1000000
  [ -n "$QUICK" ] && ops=200000
  taskset -c "$SERVER_CPU" $LUAJIT "$ROOT/bench/alloc.lua" "$ops" >> "$CHECKS" 2>&1
fi

$LUAJIT "$ROOT/bench/report.lua" "$OUT" "$SYS_METHOD" | tee "$OUT/table.md"
echo "bench: $(($(date +%s) - t_start)) s; results in $OUT/" >&2
