#!/bin/sh
# tools/wine/mime.sh: LuaSocket's one C module without sockets, mime.core,
# for the Windows (Wine) suite: LuaSocket's own Lua files (socket.http,
# smtp, ltn12, mime) run on socket2.luasocket and need it. Debian's
# `lua-socket` source, its src/mime.c and src/compat.c cross-built with
# mingw-w64 against the Windows LuaJIT, once per version, cached in
#   ${SOCKET2_CACHE:-/var/cache/socket2}/win/lua-socket-<debian version>/
# and copied to build/win/lib/mime/core.dll (on LUA_CPATH). A few seconds;
# run by `make win`; safe to run again.
set -e
. "$(dirname "$0")/env.sh"
CACHE=${SOCKET2_CACHE:-/var/cache/socket2}/win
OUT=$WIN/lib/mime/core.dll
[ -f "$OUT" ] && exit 0
cached=$(ls -d "$CACHE"/lua-socket-* 2>/dev/null | sort -V | tail -1)
if [ -z "$cached" ] || [ ! -f "$cached/mime/core.dll" ]; then
  sh "$ROOT/tools/deps.sh" gcc-mingw-w64-x86-64 dpkg-dev
  debian_unpack luasocket # (the source package of lua-socket)
  out="$CACHE/lua-socket-$ver"
  mkdir -p "$out.tmp/mime"
  # (LuaJIT is Lua 5.1: compat.c supplies what mime.c takes from 5.2)
  $MINGW-gcc -O2 -shared -o "$out.tmp/mime/core.dll" -I"$WIN/include" \
    -DLUASOCKET_API='__declspec(dllexport)' -DMIME_API='__declspec(dllexport)' \
    "$dir/src/mime.c" "$dir/src/compat.c" "$WIN/bin/lua51.dll"
  $MINGW-strip "$out.tmp/mime/core.dll"
  echo "$ver" > "$out.tmp/VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
  cached=$out
  echo "socket2: LuaSocket $ver's mime.core for Windows built"
fi
mkdir -p "$WIN/lib/mime"
cp "$cached/mime/core.dll" "$OUT"
