# tools/wine/env.sh: sourced by the other tools/wine scripts. Everything for
# the Windows build and test lives under build/win (cached between runs):
#   build/win/src/      Debian source packages (luajit, lua-filesystem)
#   build/win/bin/      luajit.exe, lua51.dll
#   build/win/lib/      lfs.dll, socket2/shim.dll (package.cpath)
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
