#!/bin/sh
# tools/wine/setup.sh: prepares the Windows test bench, once; later runs only
# check that everything is there (about 0.1 s).
#   - the mingw cross compiler and Wine, from Debian (tools/deps.sh);
#   - LuaJIT for Windows (luajit.exe, lua51.dll, its headers) cross-built
#     from Debian's own luajit source package, and lfs.dll from
#     lua-filesystem's (busted needs lfs);
#   - a private Wine prefix per clone (build/win/prefix; first start: about
#     7 s).
# The cross-built files are the slow part (about a minute), so they are
# built once per machine into a cache outside the clone and hard-linked (or
# copied) into build/win/bin, lib and include:
#   ${SOCKET2_CACHE:-/var/cache/socket2}/win/luajit_VERSION+lfs_VERSION+mingw_VERSION/
#     bin/luajit.exe bin/lua51.dll lib/lfs.dll include/*.h
# named after the Debian source versions it was built from (and the mingw
# compiler), so that a Debian update builds a new entry. An entry appears
# whole or not at all (built beside it, then renamed). deb-src lines for
# bookworm are added when apt-get source needs them. SOCKET2_CACHE= (empty)
# keeps the cache inside the clone (build/win/cache).
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

# the version of PKG that apt would install, which names its source too
version() {
  v=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p')
  [ -n "$v" ] && [ "$v" != "(none)" ] || v=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null) || true
  [ -n "$v" ] || { echo "socket2: no version of $1 known to apt" >&2; exit 1; }
  printf '%s' "$v"
}

# apt-get source PKG=VERSION into directory $2; prints the unpacked dir
fetch_src() {
  need_src
  (cd "$2" && apt-get source -qq "$1=$(version "$1")" >/dev/null 2>&1) || {
    echo "socket2: apt-get source $1 failed" >&2; exit 1; }
  d=$(ls -d "$2/$1"-*/ | head -1)
  printf '%s' "${d%/}"
}

# cross-builds everything of a cache entry into $1
build_entry() {
  out=$1
  mkdir -p "$out/src" "$out/bin" "$out/lib" "$out/include"
  lj=$(fetch_src luajit "$out/src")
  echo "socket2: cross-building LuaJIT for Windows from $(basename "$lj")"
  t0=$(date +%s)
  make -C "$lj" -j2 -s HOST_CC=gcc CROSS=$MINGW- TARGET_SYS=Windows amalg >"$out/luajit-build.log" 2>&1 ||
    { cat "$out/luajit-build.log" >&2; exit 1; }
  $MINGW-strip -o "$out/bin/lua51.dll" "$lj/src/lua51.dll"
  $MINGW-strip -o "$out/bin/luajit.exe" "$lj/src/luajit.exe"
  cp "$lj/src/lua.h" "$lj/src/luaconf.h" "$lj/src/lualib.h" "$lj/src/lauxlib.h" "$out/include/"
  lfs=$(fetch_src lua-filesystem "$out/src")
  $MINGW-gcc -O2 -shared -I"$out/include" -o "$out/lib/lfs.dll" "$lfs/src/lfs.c" "$out/bin/lua51.dll"
  $MINGW-strip "$out/lib/lfs.dll"
  rm -rf "$out/src"
  echo "socket2: LuaJIT and lfs for Windows built in $(( $(date +%s) - t0 )) s"
}

FILES="bin/luajit.exe bin/lua51.dll lib/lfs.dll include/lua.h include/luaconf.h include/lualib.h include/lauxlib.h"
have_all() { for f in $FILES; do [ -f "$1/$f" ] || return 1; done; }

if ! have_all "$WIN"; then
  cache=${SOCKET2_CACHE-/var/cache/socket2}
  [ -n "$cache" ] && mkdir -p "$cache/win" 2>/dev/null || cache=$WIN/cache
  key=luajit_$(version luajit)+lfs_$(version lua-filesystem)+mingw_$($MINGW-gcc -dumpversion)
  entry=$cache/win/$(printf '%s' "$key" | tr '~:' '__')
  if ! have_all "$entry"; then
    tmp=$entry.tmp.$$
    rm -rf "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    build_entry "$tmp"
    # another clone may have filled it meanwhile: then keep theirs
    if ! mv -T "$tmp" "$entry" 2>/dev/null; then
      have_all "$entry" || { rm -rf "$entry"; mv -T "$tmp" "$entry"; }
      rm -rf "$tmp"
    fi
    trap - EXIT
  fi
  echo "socket2: LuaJIT for Windows from the cache $entry"
  for f in $FILES; do
    mkdir -p "$WIN/$(dirname "$f")"
    ln -f "$entry/$f" "$WIN/$f" 2>/dev/null || cp -f "$entry/$f" "$WIN/$f"
  done
fi
mkdir -p "$WIN/lib/socket2"
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "socket2: creating the Wine prefix $WINEPREFIX (first start takes a few seconds)"
  t0=$(date +%s)
  wine wineboot --init >/dev/null 2>&1 || true
  wineserver -w
  echo "socket2: Wine prefix ready in $(( $(date +%s) - t0 )) s"
fi
