-- examples/udp_echo.lua: a UDP echo server and a client in one process.
local socket = require'socket2'
local ffi = require'ffi'

local server = assert(socket.udp())
assert(server:bind('127.0.0.1', 0))
local port = server:getsockname():port()
print('udp echo server on ' .. tostring(server:getsockname()))

socket.newthread(function()
  local buf = ffi.new'uint8_t[1500]'
  local from = socket.sockaddr('0.0.0.0', 0) -- filled by each recvfrom
  while true do
    local n = server:recvfrom(buf, 1500, from)
    if not n then break end -- closed
    server:send(buf, n, from)
  end
end)

socket.run(function()
  local c = assert(socket.udp())
  c:settimeout(2)
  assert(c:connect('127.0.0.1', port))
  local buf = ffi.new'uint8_t[1500]'
  for _, msg in ipairs{'one', 'two', 'three'} do
    assert(c:send(msg))
    local n = assert(c:recv(buf, 1500))
    print(('sent %q, got %q'):format(msg, ffi.string(buf, n)))
  end
  c:close()
  server:close()
end)
