#!/bin/sh
# bench/shim_variant.sh NAME [REV] [BACKEND] [CFLAGS...]: builds the shim of
# git revision REV (default: the working tree) with BACKEND (default
# io_uring) into build/bench/shims/NAME.so, so that bench/run.sh can run
# builds side by side in one session (interleaved, as every server is):
#
#   sh bench/shim_variant.sh before HEAD~1
#   sh bench/shim_variant.sh after
#   BENCH_SERVERS="c bare socket2 socket2@before socket2@after" bash bench/run.sh
#
# Extra arguments are passed to the compiler (-DNAME=1 to try a variant
# that the source keeps behind a macro).
set -eu
cd "$(dirname "$0")/.."
name=$1
rev=${2:-}
backend=${3:-io_uring}
[ $# -gt 3 ] && shift 3 || shift $#
out=build/bench/shims
mkdir -p "$out"
src=shim
if [ -n "$rev" ]; then
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  git archive "$rev" shim | tar -x -C "$src"
  src=$src/shim
fi
libs="-lpthread -ldl"
[ "$backend" = io_uring ] && libs="$libs -luring"
${CC:-cc} -O2 -g -std=gnu11 -Wall -Wextra -Werror -fPIC -fvisibility=hidden -shared -I"$src" "$@" \
  -o "$out/$name.so" "$src/$backend.c" "$src/common.c" "$src/lookup.c" "$src/shared.c" "$src/lthread.c" \
  "$src/oserr_posix.c" "$src/thread_posix.c" $libs
echo "bench: $out/$name.so: $backend from ${rev:-the working tree}"
