#!/bin/sh
# tools/wine/setup.sh: prepares the Windows test bench, once; later runs only
# check that everything is there (about 0.1 s).
#   - the mingw cross compiler and Wine, from Debian (tools/deps.sh);
#   - deb-src lines for bookworm, so apt-get source works;
#   - LuaJIT for Windows (luajit.exe + lua51.dll) from Debian's luajit source;
#   - lfs.dll from Debian's lua-filesystem source (busted needs lfs);
#   - a private Wine prefix (first start: about 7 s).
set -e
. "$(dirname "$0")/env.sh"
sh "$ROOT/tools/deps.sh" gcc-mingw-w64-x86-64 wine wine64 dpkg-dev

need_src() {
  [ -f /etc/apt/sources.list.d/socket2-deb-src.sources ] && return 0
  grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && return 0
  grep -qs '^deb-src ' /etc/apt/sources.list && return 0
  echo "socket2: adding deb-src for bookworm (apt-get source luajit)" >&2
  cat > /etc/apt/sources.list.d/socket2-deb-src.sources <<'X'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
X
  apt-get update -qq >&2
}

# apt-get source PKG into build/win/src, once; prints the unpacked dir
fetch_src() {
  mkdir -p "$WIN/src"
  d=$(ls -d "$WIN/src/$1"-*/ 2>/dev/null | head -1)
  if [ -z "$d" ]; then
    need_src
    (cd "$WIN/src" && apt-get source -qq "$1" >/dev/null 2>&1) || {
      echo "socket2: apt-get source $1 failed" >&2; exit 1; }
    d=$(ls -d "$WIN/src/$1"-*/ | head -1)
  fi
  printf '%s' "${d%/}"
}

mkdir -p "$WIN/bin" "$WIN/lib/socket2"
if [ ! -f "$WIN/bin/luajit.exe" ] || [ ! -f "$WIN/bin/lua51.dll" ]; then
  lj=$(fetch_src luajit)
  echo "socket2: cross-building LuaJIT for Windows from $(basename "$lj")"
  t0=$(date +%s)
  make -C "$lj" -j2 -s HOST_CC=gcc CROSS=$MINGW- TARGET_SYS=Windows amalg >"$WIN/luajit-build.log" 2>&1 || { cat "$WIN/luajit-build.log" >&2; exit 1; }
  $MINGW-strip -o "$WIN/bin/lua51.dll" "$lj/src/lua51.dll"
  $MINGW-strip -o "$WIN/bin/luajit.exe" "$lj/src/luajit.exe"
  mkdir -p "$WIN/include"
  cp "$lj/src/lua.h" "$lj/src/luaconf.h" "$lj/src/lualib.h" "$lj/src/lauxlib.h" "$WIN/include/"
  echo "socket2: LuaJIT for Windows built in $(( $(date +%s) - t0 )) s"
fi
if [ ! -f "$WIN/lib/lfs.dll" ]; then
  lfs=$(fetch_src lua-filesystem)
  $MINGW-gcc -O2 -shared -I"$WIN/include" -o "$WIN/lib/lfs.dll" "$lfs/src/lfs.c" "$WIN/bin/lua51.dll"
  $MINGW-strip "$WIN/lib/lfs.dll"
fi
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "socket2: creating the Wine prefix $WINEPREFIX (first start takes a few seconds)"
  t0=$(date +%s)
  wine wineboot --init >/dev/null 2>&1 || true
  wineserver -w
  echo "socket2: Wine prefix ready in $(( $(date +%s) - t0 )) s"
fi
