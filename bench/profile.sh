#!/bin/bash
# bench/profile.sh SERVER [WORKLOAD] [N]: where a benchmark server spends its
# CPU, kernel included: perf record (cpu-clock, call graphs) on the server
# process while redis-benchmark (resp, resp16), wrk (http) or the churn
# client runs, then the flat profile (self time by symbol) and the time by
# top-level kernel entry. SERVER as in bench/run.sh (c, bare, socket2,
# socket2-uring, socket2@NAME). Not part of make bench; LuaJIT's traces
# show as unnamed addresses ("[unknown]" / perf-PID.map is not written).
#
#   bash bench/profile.sh socket2-uring resp
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/bench
s=$1; w=${2:-resp}; n=${3:-200000}
mkdir -p "$OUT"
export LUA_PATH="$ROOT/bench/?.lua;$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"
export LUA_CPATH="$ROOT/?.so;;"
LUAJIT=${LUAJIT:-luajit}
case $s in
  c) cmd="$OUT/c-server"; envs= ;;
  bare) cmd="$LUAJIT $ROOT/bench/bare/server.lua"; envs= ;;
  socket2) cmd="$LUAJIT $ROOT/bench/socket2/server.lua"; envs="SOCKET2_BACKEND=epoll" ;;
  socket2-uring) cmd="$LUAJIT $ROOT/bench/socket2/server.lua"; envs="SOCKET2_BACKEND=io_uring" ;;
  socket2@*) cmd="$LUAJIT $ROOT/bench/socket2/server.lua"; envs="SOCKET2_SHIM=$OUT/shims/${s#socket2@}.so" ;;
  *) echo "bench/profile.sh: unknown server $s" >&2; exit 2 ;;
esac
kind=$w; [ "$w" = resp16 ] && kind=resp
# shellcheck disable=SC2086
env $envs timeout -s KILL 300 taskset -c "${SERVER_CPU:-1}" $cmd "$kind" > "$OUT/prof.out" 2> "$OUT/prof.err" &
for _ in $(seq 1 200); do grep -q '^PORT' "$OUT/prof.out" 2>/dev/null && break; sleep 0.05; done
read -r _ PORT _ SPID < "$OUT/prof.out"
data=$OUT/perf.$s.$w.data
perf record -q -e cpu-clock -g -p "$SPID" -o "$data" 2>/dev/null &
pp=$!
sleep 0.5
cl="timeout -s KILL 120 taskset -c ${CLIENT_CPU:-0}"
case $w in
  resp) $cl redis-benchmark -h 127.0.0.1 -p "$PORT" -t ping -c 50 -n "$n" -q > /dev/null 2>&1 ;;
  resp16) $cl redis-benchmark -h 127.0.0.1 -p "$PORT" -t ping -c 50 -n "$n" -P 16 -q > /dev/null 2>&1 ;;
  http) $cl wrk -t1 -c50 -d5s "http://127.0.0.1:$PORT/" > /dev/null 2>&1 ;;
  churn) $cl "$OUT/c-client" churn "$PORT" "$((n / 10))" 50 16 > /dev/null ;;
esac
kill -INT $pp; wait $pp 2>/dev/null || true
kill "$SPID" 2>/dev/null; wait 2>/dev/null || true
rep() { perf report -i "$data" --stdio -g none "$@" 2>/dev/null | grep -E '^ +[0-9]'; }
echo "== $s $w: self time by object"
rep --no-children --sort dso | head -8
echo "== $s $w: self time by symbol (top ${TOP:-40})"
rep --no-children --sort dso,sym | head -"${TOP:-40}"
echo "== $s $w: time under each kernel entry (children)"
rep --children --sort sym | grep -E '\[k\] (__x64_sys_|__do_sys_|asm_|irqentry_exit)' | head -20
