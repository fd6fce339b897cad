-- bench/soak/server.lua: the server of the soak test (bench/soak/run.sh).
-- One socket2 server: a thread per connection reads request lines and
-- answers each ("ping N" -> "pong N"); "stats" answers with what the
-- server holds (slots, threads, waiting, Lua heap in kB); "quit" stops it.
-- Prints "port N" first.
local socket = require'socket2'

local l = assert(socket.listen('127.0.0.1', tonumber(arg[1]) or 0, 4096))
io.stdout:write('port ', l:getsockname():port(), '\n')
io.stdout:flush()

local served, conns = 0, 0
local function handle(c)
  local st = socket.stream(c, 4096)
  while true do
    local line = st:readline(false, 1024)
    if not line then break end
    if line == 'stats' then
      collectgarbage() -- the live heap, not garbage waiting for the collector
      local s = socket.stats()
      st:write(('stats slots=%d threads=%d waiting=%d timers=%d lua_kb=%d served=%d conns=%d\n'):format(
        s.slots, s.threads, s.waiting, s.timers, math.floor(collectgarbage'count'), served, conns))
    elseif line == 'quit' then
      l:close()
      break
    else
      served = served + 1
      st:write('pong', line:sub(5), '\n')
    end
    -- no flush: the next readline sends what was written before it waits
  end
  st:close()
end

socket.newthread(function()
  while not l:closed() do -- (a handler run from here may have closed it)
    local c = l:accept()
    if not c then break end
    conns = conns + 1
    socket.newthread(handle, c)
  end
end)
socket.start()
