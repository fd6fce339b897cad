-- examples/tls_echo_server.lua port max_clients cert key
-- A TLS line echo server: one thread per client, each line sent back as
-- 'echo: <line>' until the client closes. Exits after max_clients.
local socket = require'socket2'
local tls = require'socket2.tls'

local port, max_clients, cert, key = tonumber(arg[1]) or 0, tonumber(arg[2]), arg[3], arg[4]
if not (cert and key) then
  io.stderr:write'usage: tls_echo_server.lua port max_clients cert.pem key.pem\n'
  os.exit(2)
end
local ctx = assert(tls.context{server = true, cert = cert, key = key})

local server = assert(socket.listen('127.0.0.1', port))
print('listening on ' .. tostring(server:getsockname()))
io.stdout:flush()

local served = 0
local function serve(client)
  local ts = tls.wrap(client, ctx)
  ts:settimeout(10)                        -- every call, the handshake too
  local st = socket.stream(ts)
  while true do
    local line = st:readline()
    if not line then break end               -- closed, timeout, or a TLS error
    st:write('echo: ', line, '\n')
    if not st:flush() then break end
  end
  st:close()                                 -- sends close_notify
  served = served + 1
  if served == max_clients then server:close() end
end

socket.newthread(function()
  while true do
    local client = server:accept()
    if not client then break end
    socket.newthread(serve, client)
  end
end)

socket.start()
