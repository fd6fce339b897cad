#!/bin/sh
# tools/wine/busted.sh [busted args]: runs busted under Wine with LuaJIT
# for Windows and the IOCP shim (build/win/lib/socket2/shim.dll), from the
# source tree root. Needs tools/wine/setup.sh and `make PLAT=mingw` first.
. "$(dirname "$0")/env.sh"
cd "$ROOT"
W=$(winpath "$ROOT")
export LUA_PATH="$W\\lua\\?.lua;$W\\lua\\?\\init.lua;$W\\spec\\?.lua;$W\\spec\\win\\?.lua;Z:\\usr\\share\\lua\\5.1\\?.lua;Z:\\usr\\share\\lua\\5.1\\?\\init.lua"
export LUA_CPATH="$(winpath "$WIN")\\lib\\?.dll"
# a Windows path, so that arg[-1] can be started again from inside (io.popen)
exec wine "$(winpath "$WIN")\\bin\\luajit.exe" spec/win/run_busted.lua "$@"
