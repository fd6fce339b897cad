#!/bin/bash
# bench/tls/run.sh: the TLS workloads of `make bench` (make bench-tls runs
# them alone). Same method as bench/run.sh: server pinned to CPU 1, client
# to CPU 0, server CPU = its process CPU clock over the client's run,
# median of RUNS runs. Certificates (EC P-256) are made for the run.
#   https:       wrk -t1 -c50 -dSECS https://127.0.0.1:PORT/ (keep-alive)
#   hs-full:     N connections one after the other, full TLS 1.3 handshake + one request
#   hs-resumed:  the same, each resuming the session the previous one left
#   bulk:        one connection, BYTES to the server (sink), then BYTES back (source)
# Servers: c (bench/tls/server.c: epoll + OpenSSL on the descriptor),
# socket2 (bench/tls/server.lua), nginx (1 process, ssl), and, for https,
# cqueues + luaossl (bench/tls/cqueues.lua). Not copas + LuaSec: Debian's
# copas is 1.1.7, which has no TLS (copas.handler with sslparams is copas 2).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/build/bench/tls
mkdir -p "$OUT"
QUICK=${QUICK:-}; [ "$QUICK" = 0 ] && QUICK=
if [ -n "$QUICK" ]; then RUNS=1; SECS=2; HS_N=200; BYTES=$((256 << 20))
else RUNS=3; SECS=5; HS_N=1000; BYTES=$((1 << 30)); fi
RUNS=${BENCH_RUNS:-$RUNS}
SERVERS=${BENCH_TLS_SERVERS:-"c socket2 nginx cqueues"}
SERVER_CPU=${SERVER_CPU:-1}; CLIENT_CPU=${CLIENT_CPU:-0}
LUAJIT=${LUAJIT:-luajit}
export LUA_PATH="$ROOT/bench/?.lua;$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"
export LUA_CPATH="$ROOT/?.so;;"
CLIENT=$ROOT/build/bench/tls-client
D=$OUT/certs
rm -rf "$D"; sh "$ROOT/tools/tls/certs.sh" "$D" > /dev/null
RES=$OUT/results.tsv; : > "$RES"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

nginx_conf() {
  mkdir -p "$OUT/nginx"
  cat > "$OUT/nginx/nginx.conf" <<X
worker_processes 1; daemon off; master_process off; pid $OUT/nginx/nginx.pid; error_log $OUT/nginx/error.log;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 100000000; client_body_temp_path $OUT/nginx; proxy_temp_path $OUT/nginx;
  fastcgi_temp_path $OUT/nginx; uwsgi_temp_path $OUT/nginx; scgi_temp_path $OUT/nginx;
  server { listen 127.0.0.1:$1 ssl; ssl_certificate $D/chain.pem; ssl_certificate_key $D/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { default_type text/plain; return 200 "Hello, World!"; } } }
X
}

free_port() { $LUAJIT -e "local s=require'socket2'.listen('127.0.0.1',0) print(s:getsockname():port()) s:close()"; }

SPID=; PORT=
start() {
  local s=$1
  : > "$OUT/server.out"
  case $s in
    c) taskset -c "$SERVER_CPU" "$ROOT/build/bench/tls-server" "$D/chain.pem" "$D/server.key" > "$OUT/server.out" 2> "$OUT/server.err" & ;;
    socket2) taskset -c "$SERVER_CPU" $LUAJIT "$ROOT/bench/tls/server.lua" "$D/chain.pem" "$D/server.key" > "$OUT/server.out" 2> "$OUT/server.err" & ;;
    cqueues) taskset -c "$SERVER_CPU" $LUAJIT "$ROOT/bench/tls/cqueues.lua" "$D/chain.pem" "$D/server.key" > "$OUT/server.out" 2> "$OUT/server.err" & ;;
    nginx)
      PORT=$(free_port); nginx_conf "$PORT"
      taskset -c "$SERVER_CPU" "$NGINX" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log" > "$OUT/server.err" 2>&1 &
      SPID=$!
      for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && return 0; sleep 0.05; done
      return 1 ;;
  esac
  for _ in $(seq 1 200); do
    if grep -q '^PORT' "$OUT/server.out"; then read -r _ PORT _ SPID < "$OUT/server.out"; return 0; fi
    sleep 0.05
  done
  echo "bench-tls: $s did not start: $(cat "$OUT/server.err")" >&2; return 1
}
stop() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null; SPID=; }
trap 'stop; exit 130' INT TERM
client() { timeout -s KILL 300 taskset -c "$CLIENT_CPU" "$@"; }
cpu() { "$ROOT/build/bench/c-client" cpu "$SPID" 2>/dev/null || echo nan; }

supported() { # server workload
  case $1:$2 in
    nginx:bulk) return 1 ;;
    cqueues:*) [ "$2" = https ] && [ -f /usr/share/lua/5.1/cqueues.lua ] && [ -f /usr/share/lua/5.1/openssl.lua ] || return 1 ;;
  esac
  return 0
}

for r in $(seq 1 "$RUNS"); do
  for w in https hs-full hs-resumed bulk; do
    for s in $SERVERS; do
      supported "$s" "$w" || continue
      printf '\rbench-tls: run %d/%d %-10s %-8s' "$r" "$RUNS" "$w" "$s" >&2
      start "$s" || continue
      case $w in
        https)
          c0=$(cpu); out=$(client wrk -t1 -c50 -d"${SECS}s" "https://127.0.0.1:$PORT/" 2>&1); c1=$(cpu)
          echo "$out" | grep -E 'Non-2xx|Socket errors' | sed "s/^/bench-tls: $s https: /" >&2
          echo "$out" | awk -v s="$s" -v r="$r" -v c0="$c0" -v c1="$c1" '
            / requests in / { n = $1; t = $4; sub(/s,?$/, "", t) }
            END { if (n > 0) printf "https\t%s\t%s\t%d\t%.6f\t%.6f\n", s, r, n, t, c1 - c0 }' >> "$RES" ;;
        hs-full|hs-resumed)
          res=0; [ "$w" = hs-resumed ] && res=1
          client "$CLIENT" hs "$PORT" 20 "$res" "$D/ca.pem" "$SPID" > /dev/null # warm-up
          client "$CLIENT" hs "$PORT" "$HS_N" "$res" "$D/ca.pem" "$SPID" | awk -v s="$s" -v r="$r" -v w="$w" '
            /^HS/ { printf "%s\t%s\t%s\t%d\t%s\t%s\n", w, s, r, $2, $3, $5; if (w == "hs-resumed" && $4 < $2 - 1) print "bench-tls: " s ": only " $4 " of " $2 " resumed" > "/dev/stderr" }' >> "$RES" ;;
        bulk)
          client "$CLIENT" bulk "$PORT" "$BYTES" - "$D/ca.pem" "$SPID" | awk -v s="$s" -v r="$r" '
            /^BULK/ { printf "bulk-sink\t%s\t%s\t%s\t%s\t%s\n", s, r, $2, $3, $4
                      printf "bulk-source\t%s\t%s\t%s\t%s\t%s\n", s, r, $2, $5, $6 }' >> "$RES" ;;
      esac
      stop
    done
  done
done
printf '\r%60s\r' '' >&2

{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, kernel $(uname -r), $(openssl version | cut -d' ' -f1-2), load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# server on cpu $SERVER_CPU, client on cpu $CLIENT_CPU; $RUNS run(s) per point; TLS 1.3, EC P-256, X25519, AES-256-GCM"
  echo "# https: wrk -t1 -c50 -d${SECS}s; handshakes: $HS_N connections, one at a time; bulk: $((BYTES >> 20)) MiB each way"
  echo
  echo "| workload | server | throughput | server CPU | x C | x nginx |"
  echo "|---|---|---|---|---|---|"
  awk -F'\t' '
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    { k = $1 SUBSEP $2; n[k]++; cpu[k, n[k]] = $6 / $4; thr[k, n[k]] = $4 / $5; if (!(k in seen)) { seen[k] = 1; order[++no] = k } }
    END {
      for (i = 1; i <= no; i++) { k = order[i]; m = n[k]
        for (j = 1; j <= m; j++) { a[j] = cpu[k, j]; b[j] = thr[k, j] }
        mc[k] = med(a, m); mt[k] = med(b, m); split(k, p, SUBSEP)
        lo = 1e99; hi = 0; for (j = 1; j <= m; j++) { if (cpu[k, j] < lo) lo = cpu[k, j]; if (cpu[k, j] > hi) hi = cpu[k, j] }
        rng[k] = (m > 1) ? sprintf(" [%s-%s]", fmt(p[1], lo), fmt(p[1], hi)) : "" }
      for (i = 1; i <= no; i++) { k = order[i]; split(k, p, SUBSEP); w = p[1]
        c = mc[w SUBSEP "c"]; g = mc[w SUBSEP "nginx"]
        printf "| %s | %s | %s | %s%s %s | %s | %s |\n", w, p[2], tput(w, mt[k]), fmt(w, mc[k]), rng[k], unit(w),
          c ? sprintf("%.2f", mc[k] / c) : "-", g ? sprintf("%.2f", mc[k] / g) : "-" } }
    function fmt(w, v) { return (w ~ /^bulk/) ? sprintf("%.0f", v * 1e12) : sprintf("%.1f", v * 1e6) }
    function unit(w) { return (w ~ /^bulk/) ? "ms/GB" : (w ~ /^hs/ ? "us/handshake" : "us/req") }
    function tput(w, v) { return (w ~ /^bulk/) ? sprintf("%.2f GB/s", v / 1e9) : (w ~ /^hs/ ? sprintf("%.0f conn/s", v) : sprintf("%.1f k req/s", v / 1e3)) }
  ' "$RES"
  echo
  taskset -c "$SERVER_CPU" $LUAJIT "$ROOT/bench/tls/alloc.lua" "$([ -n "$QUICK" ] && echo 200000 || echo 1000000)" "$D" 2>&1
} | tee "$OUT/table.md"
