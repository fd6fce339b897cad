#!/bin/sh
# tools/wine/openssl.sh: OpenSSL for the Windows (Wine) suite of socket2.tls.
# Debian ships no mingw OpenSSL, so Debian's own `openssl` source package is
# cross-built with mingw-w64 into libssl-3-x64.dll and libcrypto-3-x64.dll,
# once per OpenSSL version, into a cache outside the clone:
#   ${SOCKET2_CACHE:-/var/cache/socket2}/win/openssl-<debian version>/bin/
# A fresh clone copies the DLLs from there (no rebuild); they are put beside
# luajit.exe (build/win/bin), where LoadLibrary finds them first. The build
# takes about 5 minutes on 2 busy cores. Run by `make win`; safe to run again
# (about 0.1 s once everything is there).
set -e
. "$(dirname "$0")/env.sh"
CACHE=${SOCKET2_CACHE:-/var/cache/socket2}/win
mkdir -p "$WIN/bin"
have() { [ -f "$1/libssl-3-x64.dll" ] && [ -f "$1/libcrypto-3-x64.dll" ]; }
have "$WIN/bin" && exit 0

# the newest cached build, when there is one
cached=$(ls -d "$CACHE"/openssl-*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$cached" ] || ! have "$cached"; then
  sh "$ROOT/tools/deps.sh" gcc-mingw-w64-x86-64 dpkg-dev perl make
  debian_unpack openssl
  echo "socket2: cross-building OpenSSL $ver for Windows (mingw-w64; a few minutes, cached in $CACHE)"
  t0=$(date +%s)
  log="$src/build.log"
  # (3.0 has no no-docs: build_libs builds no docs anyway)
  (cd "$dir" && ./Configure mingw64 shared no-tests --cross-compile-prefix=$MINGW- --prefix=/ >"$log" 2>&1) \
    || { tail -30 "$log" >&2; exit 1; }
  nice make -C "$dir" -j2 -s build_libs >>"$log" 2>&1 || { tail -40 "$log" >&2; exit 1; }
  out="$CACHE/openssl-$ver"
  mkdir -p "$out.tmp/bin"
  $MINGW-strip -o "$out.tmp/bin/libssl-3-x64.dll" "$dir/libssl-3-x64.dll"
  $MINGW-strip -o "$out.tmp/bin/libcrypto-3-x64.dll" "$dir/libcrypto-3-x64.dll"
  echo "$ver" > "$out.tmp/VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
  cached="$out/bin"
  echo "socket2: OpenSSL $ver for Windows built in $(( $(date +%s) - t0 )) s"
fi
cp "$cached/libssl-3-x64.dll" "$cached/libcrypto-3-x64.dll" "$WIN/bin/"
