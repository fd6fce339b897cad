-- examples/http_server.lua [port] [max_requests]
-- A minimal HTTP/1.1 server with keep-alive: every GET gets a small page.
-- With max_requests it exits after answering that many requests.
local socket = require'socket2'

local port, max_requests = tonumber(arg[1]) or 0, tonumber(arg[2])

local server = assert(socket.tcp())
assert(server:listen('127.0.0.1', port))
print('http server on http://' .. tostring(server:getsockname()) .. '/')
io.stdout:flush()

local answered = 0

local function serve(st)
  st.socket:settimeout(30) -- idle keep-alive connections go away
  while true do
    local request = st:readline()
    if not request then break end
    local method, path, version = request:match'^(%u+) (%S+) HTTP/(%d%.%d)$'
    local headers = {}
    while true do
      local h = st:readline()
      if not h then return st:close() end
      if h == '' then break end
      local k, v = h:match'^([^:]+):%s*(.*)$'
      if k then headers[k:lower()] = v end
    end
    local body, status
    if not method then
      status, body = '400 Bad Request', 'bad request\n'
    elseif method ~= 'GET' and method ~= 'HEAD' then
      status, body = '405 Method Not Allowed', 'only GET\n'
    else
      status, body = '200 OK', ('hello from socket2, you asked for %s\n'):format(path)
    end
    local close = version == '1.0' and headers.connection ~= 'keep-alive'
      or headers.connection == 'close'
    st:write('HTTP/1.1 ', status, '\r\n',
      'Content-Type: text/plain\r\n',
      'Content-Length: ', #body, '\r\n',
      close and 'Connection: close\r\n' or '',
      '\r\n', method ~= 'HEAD' and body or '')
    if not st:flush() then break end
    answered = answered + 1
    if answered == max_requests then server:close() end
    if close or not method then break end
  end
  st:close()
end

socket.newthread(function()
  while true do
    local c = server:accept()
    if not c then break end
    socket.newthread(serve, socket.stream(c))
  end
end)

socket.start()
