-- examples/demo.lua: an echo server and three clients in one process, each
-- a socket2 thread, printing what they exchange. Run: make demo
local socket = require'socket2'

local t0 = socket.clock()
local function log(who, fmt, ...) -- seconds since the start, who, what
  io.write(('%6.3f  %-9s '):format(socket.clock() - t0, who), fmt:format(...), '\n')
end

-- the server: accept in a loop, one thread per client, echo lines back
local server = assert(socket.tcp())
assert(server:listen('127.0.0.1', 0))
local port = server:getsockname():port()
log('server', 'listening on %s (backend: %s)', tostring(server:getsockname()), socket.backend)

local clients_left = 3
socket.newthread(function()
  while clients_left > 0 do
    local c, remote = server:accept()
    if not c then break end
    log('server', 'accepted %s', tostring(remote))
    socket.newthread(function()
      local st = socket.stream(c)
      while true do
        local line, err = st:readline()
        if not line then log('server', '%s: %s', tostring(remote), err); break end
        log('server', '%s says %q', tostring(remote), line)
        st:write(line:upper(), '\n')
      end
      c:close()
      clients_left = clients_left - 1
      if clients_left == 0 then server:close() end
    end)
  end
end)

-- three clients, each sending a few lines with pauses in between
local words = {
  {'hello', 'how are you', 'bye'},
  {'ping', 'ping again'},
  {'socket2', 'is', 'coroutines', 'over epoll'},
}
for i, lines in ipairs(words) do
  socket.newthread(function()
    local name = 'client ' .. i
    local c = assert(socket.tcp())
    assert(c:connect('127.0.0.1', port))
    log(name, 'connected from %s', tostring(c:getsockname()))
    local st = socket.stream(c)
    for _, line in ipairs(lines) do
      socket.sleep(0.1 * i)
      st:write(line, '\n')
      log(name, 'sent %q, got %q', line, assert(st:readline()))
    end
    c:close()
  end)
end

socket.start()
log('main', 'all done')
