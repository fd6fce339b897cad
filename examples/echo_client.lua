-- examples/echo_client.lua port [message ...]
-- Connects to an echo server on 127.0.0.1, sends each message and prints
-- what comes back.
local socket = require'socket2'
local ffi = require'ffi'

local port = assert(tonumber(arg[1]), 'usage: echo_client.lua port [message ...]')
local c = assert(socket.tcp())
c:settimeout(5)
assert(c:connect('127.0.0.1', port))
local buf = ffi.new('uint8_t[?]', 16384)
for i = 2, math.max(#arg, 2) do
  local msg = arg[i] or 'hello'
  assert(c:sendall(msg))
  assert(c:recvall(buf, #msg))
  print('echo: ' .. ffi.string(buf, #msg))
end
c:close()
