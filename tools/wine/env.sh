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

# debian_source PKG DIR: Debian's source package PKG unpacked in DIR (the
# candidate version first, then every other version apt knows the source
# of, newest first: a mirror may lack the newest); deb-src lines come with
# tools/wine/setup.sh. Exit status 1 when none can be fetched.
debian_source() {
  _get() {
    (cd "$2" && apt-get source -qq "$1" >/dev/null 2>&1) && return 0
    for _v in $(apt-cache showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p' | sort -rV); do
      rm -rf "$2"/"$1"*
      (cd "$2" && apt-get source -qq "$1=$_v" >/dev/null 2>&1) && return 0
    done
    return 1
  }
  _get "$1" "$2" && return 0
  sh "$ROOT/tools/wine/setup.sh" >/dev/null
  _get "$1" "$2"
}
