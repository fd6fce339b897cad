#!/bin/sh
# bench/soak/run.sh [CONNECTIONS] [REQUESTS_PER_CONN] [CONCURRENCY]
# Soak: 1,000,000 requests over 100,000 connections through one socket2
# server; prints the server's descriptor count and RSS at the start, the
# middle and the end (they must stay flat). Not part of `make test`.
set -e
cd "$(dirname "$0")/../.."
CONNS=${1:-100000}; REQS=${2:-10}; CONC=${3:-64}
make --no-print-directory all >/dev/null
mkdir -p build/bench
${CC:-cc} -O2 -Wall -o build/bench/soak_client bench/soak/client.c
export LUA_PATH="$PWD/lua/?.lua;;" LUA_CPATH="$PWD/?.so;;"
fifo=build/bench/soak.fifo
rm -f $fifo; mkfifo $fifo
luajit bench/soak/server.lua > $fifo &
srv=$!
read -r _ port < $fifo
echo "soak: server pid $srv on 127.0.0.1:$port; $CONNS connections x $REQS requests, $CONC at a time"
rc=0
build/bench/soak_client "$port" "$srv" "$CONNS" "$REQS" "$CONC" || rc=$?
[ $rc = 0 ] || kill $srv 2>/dev/null || true
wait $srv || true
rm -f $fifo
exit $rc
