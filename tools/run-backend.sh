#!/bin/sh
# tools/run-backend.sh BACKEND CMD...: runs CMD (a suite that prints TAP) with
# SOCKET2_BACKEND=BACKEND. When socket2 cannot use that backend here (the
# kernel refuses io_uring, say) it would fall back to the default one; the
# suite is then not run a second time on the fallback but reported as one
# TAP skip that gives the reason.
backend=$1; shift
mkdir -p build/test
err=build/test/probe-$backend.err
got=$(SOCKET2_BACKEND=$backend ${LUAJIT:-luajit} -e "io.write(require'socket2.shim'.backend)" 2>"$err")
if [ "$got" != "$backend" ]; then
  why=$(tr '\n' ' ' < "$err")
  echo "ok 1 - the suite on $backend # SKIP ${why:-socket2 runs on ${got:-nothing} here}"
  echo "1..1"
  exit 0
fi
SOCKET2_BACKEND=$backend exec "$@"
