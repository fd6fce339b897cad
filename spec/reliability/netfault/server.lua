-- spec/reliability/netfault/server.lua: the peer for spec/reliability/netfault/client.lua, run by
-- spec/reliability/netfault_spec.lua in its own network namespace. Listens on
--   ADDR:7000  echo: sends back whatever arrives
--   ADDR:7001  sink: reads until EOF, then answers with the byte count
-- and exits by itself after LIFETIME seconds (or when the spec kills it).
local socket = require'socket2'
local ffi = require'ffi'

local ADDR = arg[1] or '10.77.0.2'
local LIFETIME = tonumber(arg[2]) or 120

local function serve(port, handler)
  local l = assert(socket.listen(ADDR, port))
  socket.newthread(function()
    while true do
      local c = l:accept()
      if not c then break end
      socket.newthread(handler, c)
    end
  end)
  return l
end

local echo = serve(7000, function(c)
  local buf = ffi.new'uint8_t[65536]'
  while true do
    local n = c:recv(buf, 65536)
    if not n or n == 0 then break end
    if not c:sendall(buf, n) then break end
  end
  c:close()
end)

local sink = serve(7001, function(c)
  local buf = ffi.new'uint8_t[65536]'
  local total = 0
  while true do
    local n = c:recv(buf, 65536)
    if not n or n == 0 then break end
    total = total + n
  end
  c:sendall(tostring(total))
  c:close()
end)

io.stdout:write('listening\n')
io.stdout:flush()
socket.newthread(function()
  socket.sleep(LIFETIME)
  echo:close(); sink:close()
  socket.stop()
end)
socket.start()
os.exit(0)
