#!/bin/bash
# bench/compat/run.sh: the compat row of `make bench` (make bench-compat
# runs it alone): redis GETs of a 16-byte value, one connection, one GET
# after the other, against redis-server on 127.0.0.1, measured in the
# CLIENT: its CPU time (user + system, its process CPU clock) per GET,
# median of RUNS runs (the clients take turns within each run). Client and
# redis-server are pinned to the same CPU (0) by default: a request waits for
# its reply, so nothing runs in parallel, and on two CPUs each reply's
# cross-CPU wakeup is charged to the client very unevenly (3-5x, from run to
# run on this shared machine). SERVER_CPU/CLIENT_CPU override.
# Clients (bench/compat/redis_get.lua): hand-written RESP on socket2 (the
# reference), nginx.redis on socket2.ngx, the same with OpenResty's
# connect/set_keepalive per GET, redis-lua on LuaSocket (blocking), on
# copas, and on socket2.luasocket.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/build/bench/compat
mkdir -p "$OUT"
QUICK=${QUICK:-}; [ "$QUICK" = 0 ] && QUICK=
if [ -n "$QUICK" ]; then RUNS=1; N=20000; else RUNS=3; N=100000; fi
RUNS=${BENCH_RUNS:-$RUNS}
SERVER_CPU=${SERVER_CPU:-0}; CLIENT_CPU=${CLIENT_CPU:-0}
LUAJIT=${LUAJIT:-luajit}
VARIANTS=${BENCH_COMPAT_VARIANTS:-"resp ngx ngx-pool luasocket copas luasocket-s2"}
export LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;$ROOT/build/compat/usr/share/lua/5.1/?.lua;;"
export LUA_CPATH="$ROOT/?.so;;"
sh "$ROOT/tools/compat/debs.sh" "$ROOT/build/compat"

port=$(( 20000 + $$ % 20000 ))
D=$OUT/redis
sh "$ROOT/tools/compat/server.sh" stop "$D" > /dev/null
taskset -c "$SERVER_CPU" sh "$ROOT/tools/compat/server.sh" start redis "$D" "$port" > "$OUT/start.log" ||
  { echo "bench-compat: redis-server did not start: $(cat "$OUT/start.log")"; exit 1; }
trap 'sh "$ROOT/tools/compat/server.sh" stop "$D" > /dev/null' EXIT
for i in $(seq 1 100); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$port" set k vvvvvvvvvvvvvvvv > /dev/null

RES=$OUT/results.tsv; : > "$RES"
for r in $(seq 1 "$RUNS"); do
  for v in $VARIANTS; do
    out=$(timeout -s KILL 300 taskset -c "$CLIENT_CPU" "$LUAJIT" "$ROOT/bench/compat/redis_get.lua" "$v" "$port" "$N" \
      2> "$OUT/$v.err")
    [ -n "$out" ] && printf '%s\t%s\t%s\n' "$v" "$r" "$out" >> "$RES"
  done
done
"$LUAJIT" - "$RES" "$N" "$RUNS" <<'LUA' | tee "$OUT/table.md"
local res, n, runs = arg[1], arg[2], arg[3]
local by = {}
for line in io.lines(res) do
  local v, _, cpu, wall = line:match'^(%S+)\t(%S+)\t(%S+) (%S+)$'
  if v then
    by[v] = by[v] or {cpu = {}, wall = {}}
    table.insert(by[v].cpu, tonumber(cpu)); table.insert(by[v].wall, tonumber(wall))
  end
end
local function med(t)
  table.sort(t)
  local k = #t
  if k % 2 == 1 then return t[(k + 1) / 2] end
  return (t[k / 2] + t[k / 2 + 1]) / 2
end
local NAMES = {
  resp = 'hand-written RESP on socket2 (the reference)',
  ngx = 'nginx.redis on socket2.ngx',
  ['ngx-pool'] = 'nginx.redis on socket2.ngx, connect + set_keepalive per GET',
  luasocket = 'redis-lua on LuaSocket (blocking)',
  copas = 'redis-lua on LuaSocket via copas 1.1.7',
  ['luasocket-s2'] = 'redis-lua on socket2.luasocket',
}
local ORDER = {'resp', 'ngx', 'ngx-pool', 'luasocket', 'copas', 'luasocket-s2'}
print(('#### redis GET, client CPU per request (%s GETs of 16 bytes on one connection, median of %s runs)'):format(n, runs))
print()
print('| client | client CPU | x hand-written RESP on socket2 | wall time |')
print('|---|---|---|---|')
local ref = by.resp and med(by.resp.cpu)
for _, v in ipairs(ORDER) do
  local b = by[v]
  if b then
    local cpu = med(b.cpu)
    local lo, hi = math.min(unpack(b.cpu)), math.max(unpack(b.cpu))
    print(('| %s | %.2f [%.2f-%.2f] us/req | %s | %.2f us/req |'):format(NAMES[v], cpu, lo, hi,
      ref and ('%.2f'):format(cpu / ref) or '-', med(b.wall)))
  end
end
LUA
