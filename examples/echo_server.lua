-- examples/echo_server.lua [port] [max_clients]
-- A TCP echo server: one thread per client, echoing bytes back until the
-- client closes. With max_clients it exits after serving that many.
local socket = require'socket2'
local ffi = require'ffi'

local port, max_clients = tonumber(arg[1]) or 0, tonumber(arg[2])

local server = assert(socket.tcp())
assert(server:listen('127.0.0.1', port))
print('listening on ' .. tostring(server:getsockname()))
io.stdout:flush()

local served = 0
local function serve(client)
  local buf = ffi.new('uint8_t[?]', 16384)
  while true do
    local n = client:recv(buf, 16384)
    if not n or n == 0 then break end -- error or EOF
    if not client:sendall(buf, n) then break end
  end
  client:close()
  served = served + 1
  if served == max_clients then server:close() end
end

socket.newthread(function()
  while true do
    local client = server:accept()
    if not client then break end -- the server was closed
    socket.newthread(serve, client)
  end
end)

socket.start()
