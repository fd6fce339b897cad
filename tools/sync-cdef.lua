-- tools/sync-cdef.lua: copies the text of shim/socket2.h between its
-- S2_CDEF markers (S2_API removed) into lua/socket2/shim.lua's ffi.cdef
-- block. Run after changing the header: luajit tools/sync-cdef.lua
local function read(p) local f = assert(io.open(p, 'rb')); local s = f:read'*a'; f:close(); return s end
local h = read'shim/socket2.h'
local block = assert(h:match'/%* S2_CDEF_BEGIN %*/\n(.-)/%* S2_CDEF_END %*/')
block = block:gsub('S2_API ', '')
local lua = read'lua/socket2/shim.lua'
local a, b = lua:find('ffi.cdef[[\n', 1, true)
local c = assert(lua:find(']]', b, true))
lua = lua:sub(1, b) .. block .. lua:sub(c)
local f = assert(io.open('lua/socket2/shim.lua', 'wb')); f:write(lua); f:close()
print('lua/socket2/shim.lua: cdef synced with shim/socket2.h')
