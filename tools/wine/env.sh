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
