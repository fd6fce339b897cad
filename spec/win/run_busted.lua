-- spec/win/run_busted.lua: busted's command-line runner, started as
--   wine luajit.exe spec/win/run_busted.lua [busted options] spec
-- because Wine cannot follow the #! line of Debian's /usr/bin/busted.
-- tools/wine/busted.sh sets LUA_PATH/LUA_CPATH.
require'busted.runner'({standalone = false})
