-- examples/unix_echo.lua [path]: a unix stream echo server and a client in
-- one process. The default path is a file in /tmp, removed at the end; a
-- path starting with '@' is a Linux abstract name (no file at all).
local socket = require'socket2'
local ffi = require'ffi'

local path = arg[1]
if not path then path = os.tmpname(); os.remove(path); path = path .. '.sock' end
if path:sub(1, 1) == '@' then path = '\0' .. path:sub(2) end

local server = assert(socket.unix())
assert(server:bind(path))
assert(server:listen())
print('unix echo server on ' .. tostring(server:getsockname()))

socket.newthread(function()
  local client = assert(server:accept())
  local buf = ffi.new'uint8_t[4096]'
  while true do
    local n = client:recv(buf, 4096)
    if not n or n == 0 then break end
    client:sendall(buf, n)
  end
  client:close()
end)

socket.run(function()
  local c = assert(socket.unix())
  assert(c:connect(path))
  local st = socket.stream(c)
  for _, msg in ipairs{'hello', 'over a unix socket'} do
    st:write(msg, '\n')
    print(('sent %q, got %q'):format(msg, assert(st:readline())))
  end
  st:close()
end)
server:close()
if path:sub(1, 1) ~= '\0' then os.remove(path) end
