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
# Extra arguments are passed to the compiler (-DNAME to try a variant that
# the source keeps behind a macro). LUAREV=REV2 also exports the Lua layer
# of git revision REV2 (or "." for the working tree) into
# build/bench/shims/NAME.lua/, which that server then runs instead of lua/.
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
if [ -n "${LUAREV:-}" ]; then
  rm -rf "$out/$name.lua"
  mkdir -p "$out/$name.lua"
  if [ "$LUAREV" = . ]; then cp -r lua/. "$out/$name.lua/"
  else git archive "$LUAREV" lua | tar -x -C "$out/$name.lua" --strip-components=1; fi
  echo "bench: $out/$name.lua: the Lua layer of ${LUAREV}"
fi
