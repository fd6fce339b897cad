-- examples/https_get.lua URL [cafile]
-- Fetches https://host[:port]/path over TLS and prints the protocol, the
-- status line and the body. The server's certificate is verified against
-- the system's CA store (or cafile) and the host name.
local socket = require'socket2'
local tls = require'socket2.tls'

local url, cafile = arg[1], arg[2]
local host, port, path = (url or ''):match'^https://([^/:]+):?(%d*)(/?.*)$'
if not host then
  io.stderr:write'usage: https_get.lua https://host[:port]/path [cafile]\n'
  os.exit(2)
end
port = tonumber(port) or 443
if path == '' then path = '/' end
local ok, why = tls.available()
if not ok then io.stderr:write('no TLS here: ', why, '\n') os.exit(1) end

socket.run(function()
  local ctx = assert(tls.context{ca = cafile, alpn = {'http/1.1'}})
  local ts = assert(tls.connect(host, port, ctx, socket.clock() + 10))
  print(ts:version() .. ' ' .. ts:cipher() .. ' alpn=' .. tostring(ts:alpn()))
  local st = socket.stream(ts)
  st:write('GET ', path, ' HTTP/1.1\r\nHost: ', host, '\r\nConnection: close\r\n\r\n')
  print(assert(st:readline()))
  local length
  while true do
    local h = assert(st:readline())
    if h == '' then break end
    local k, v = h:match'^([^:]+):%s*(.*)$'
    if k and k:lower() == 'content-length' then length = tonumber(v) end
  end
  if length then
    io.write(assert(st:read(length)))
  else -- to the end of the stream (the server's close_notify)
    while true do
      local s = st:readany()
      if not s then break end
      io.write(s)
    end
  end
  st:close()
end)
