-- examples/http_get.lua URL [count]
-- Fetches http://host:port/path (count times over one keep-alive
-- connection) and prints the status line and body of each response.
local socket = require'socket2'

local url, count = arg[1], tonumber(arg[2]) or 1
local host, port, path = (url or ''):match'^http://([^/:]+):?(%d*)(/?.*)$'
if not host then
  io.stderr:write'usage: http_get.lua http://host[:port]/path [count]\n'
  os.exit(2)
end
port = tonumber(port) or 80
if path == '' then path = '/' end

socket.run(function()
  local c = assert(socket.tcp())
  c:settimeout(10)
  assert(c:connect(host, port))
  local st = socket.stream(c)
  for i = 1, count do
    st:write('GET ', path, ' HTTP/1.1\r\nHost: ', host, '\r\n',
      i == count and 'Connection: close\r\n' or '', '\r\n')
    local status = assert(st:readline())
    local length
    while true do
      local h = assert(st:readline())
      if h == '' then break end
      local k, v = h:match'^([^:]+):%s*(.*)$'
      if k and k:lower() == 'content-length' then length = tonumber(v) end
    end
    print(status)
    io.write(length and assert(st:read(length)) or '')
  end
  st:close()
end)
