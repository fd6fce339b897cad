-- socket2.luasocket: LuaSocket on socket2. After
--   require'socket2.luasocket'
-- require'socket' loads LuaSocket's own, unchanged Lua files (socket.lua,
-- socket/http.lua, smtp.lua, ftp.lua, tp.lua, ltn12.lua...) on top of a
-- socket2 implementation of LuaSocket's C core (socket.core, and
-- socket.unix): socket.tcp/udp/unix, connect, bind, select, sleep,
-- gettime, dns, protect/newtry that work across yields; and LuaSec's ssl
-- (its client part, for ssl.https) on socket2.tls. Inside a socket2
-- thread a call that waits parks that thread only; outside one it blocks
-- while the loop runs, as socket2's own calls do, so redis-lua or
-- socket.http in several threads interleave.
--
-- Returns LuaSocket's socket module (require'socket'), or the core alone
-- when LuaSocket's Lua files are not installed.
local core = require'socket2.luasocket.core'

-- the C core, when something loaded it before us, is replaced, and what
-- was built on it is loaded again on top of this one
local old = package.loaded['socket.core']
if old and old ~= core then
  for _, name in ipairs{'socket', 'socket.http', 'socket.smtp', 'socket.ftp', 'socket.tp', 'socket.unix',
                        'socket.url', 'socket.headers'} do
    package.loaded[name] = nil
  end
end
package.preload['socket.core'] = function() return core end
package.preload['socket.unix'] = function() return core.unix end
package.loaded['socket.core'] = core
package.loaded['socket.unix'] = core.unix

-- LuaSec's `ssl` (the client part: what ssl.https uses) on socket2.tls,
-- unless LuaSec itself was loaded already or socket2.tls cannot run here
if package.loaded.ssl == nil then
  local ok, tls = pcall(require, 'socket2.tls')
  if ok and tls.available() then
    package.preload.ssl = function() return require'socket2.luasocket.ssl' end
    package.loaded['ssl.https'] = nil
  end
end

if package.searchpath('socket', package.path) then return require'socket' end
return core
