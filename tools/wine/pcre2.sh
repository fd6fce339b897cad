#!/bin/sh
# tools/wine/pcre2.sh: PCRE2 for the Windows (Wine) suite: socket2.ngx's
# ngx.re loads libpcre2-8-0.dll. Debian ships no mingw PCRE2, so Debian's
# own `pcre2` source package is cross-built with mingw-w64 (JIT on), once
# per version, into a cache outside the clone:
#   ${SOCKET2_CACHE:-/var/cache/socket2}/win/pcre2-<debian version>/bin/
# and copied beside luajit.exe (build/win/bin). About a minute to build;
# run by `make win`; safe to run again.
set -e
. "$(dirname "$0")/env.sh"
CACHE=${SOCKET2_CACHE:-/var/cache/socket2}/win
DLL=libpcre2-8-0.dll
mkdir -p "$WIN/bin"
[ -f "$WIN/bin/$DLL" ] && exit 0
cached=$(ls -d "$CACHE"/pcre2-*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$cached" ] || [ ! -f "$cached/$DLL" ]; then
  sh "$ROOT/tools/deps.sh" gcc-mingw-w64-x86-64 dpkg-dev make
  debian_unpack pcre2
  echo "socket2: cross-building PCRE2 $ver for Windows (mingw-w64; cached in $CACHE)"
  t0=$(date +%s)
  log="$src/build.log"
  (cd "$dir" && ./configure --host=$MINGW --enable-jit --enable-shared --disable-static \
     --disable-pcre2grep-jit --disable-pcre2grep-callout-fork >"$log" 2>&1) || { tail -30 "$log" >&2; exit 1; }
  nice make -C "$dir" -j2 libpcre2-8.la >>"$log" 2>&1 || { tail -40 "$log" >&2; exit 1; }
  out="$CACHE/pcre2-$ver"
  mkdir -p "$out.tmp/bin"
  $MINGW-strip -o "$out.tmp/bin/$DLL" "$dir/.libs/$DLL"
  echo "$ver" > "$out.tmp/VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
  cached="$out/bin"
  echo "socket2: PCRE2 $ver for Windows built in $(( $(date +%s) - t0 )) s"
fi
cp "$cached/$DLL" "$WIN/bin/"
