# tools/wine/env.sh: sourced by the other tools/wine scripts. The Windows
# build and test live under build/win (kept between runs):
#   build/win/bin/      luajit.exe, lua51.dll     } linked from the machine's
#   build/win/include/  LuaJIT's headers          } cache (tools/wine/setup.sh)
#   build/win/lib/      lfs.dll (from the cache), socket2/shim.dll (package.cpath)
#   build/win/prefix/   a private WINEPREFIX (no X needed)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WIN=$ROOT/build/win
export WINEPREFIX="$WIN/prefix"
export WINEDEBUG=-all
export WINEDLLOVERRIDES='mscoree,mshtml='   # no Mono/Gecko install dialogs
unset DISPLAY
MINGW=x86_64-w64-mingw32
# Unix path -> the same path as Wine's Z: drive sees it
winpath() { printf 'Z:%s' "$1" | tr / '\\'; }

# debian_unpack PKG: Debian's source package PKG, fetched and unpacked in a
# temporary directory removed at exit; sets src (that directory), ver (the
# Debian version) and dir (the source tree), or exits. The candidate version
# first, then every other version apt knows, newest first (a mirror may lack
# the newest); deb-src lines come with tools/wine/setup.sh. When a mirror
# lacks only Debian's patch set, the upstream tarball is used as it is.
debian_unpack() {
  src=$(mktemp -d "${TMPDIR:-/tmp}/socket2-$1.XXXXXX")
  trap 'rm -rf "$src"' EXIT
  _get() {
    (cd "$src" && apt-get source -qq "$1" >/dev/null 2>&1) && return 0
    for _v in $(apt-cache showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p' | sort -rV); do
      rm -rf "${src:?}"/*
      (cd "$src" && apt-get source -qq "$1=$_v" >/dev/null 2>&1) && return 0
    done
    _orig=$(ls "$src"/"$1"_*.orig.tar.* 2>/dev/null | head -1)
    [ -n "$_orig" ] && tar -C "$src" -xf "$_orig"
  }
  _get "$1" || { sh "$ROOT/tools/wine/setup.sh" >/dev/null; _get "$1"; } \
    || { echo "socket2: apt-get source $1 failed" >&2; exit 1; }
  ver=$(sed -n 's/^Version: //p' "$(ls "$src"/"$1"_*.dsc | head -1)" | head -1)
  dir=$(ls -d "$src"/"$1"-*/ | head -1)
}
