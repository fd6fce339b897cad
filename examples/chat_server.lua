-- examples/chat_server.lua [port] [max_clients]
-- A line-based chat server on socket2 streams. Every line a client sends
-- goes to all the others as "nick: line". Commands: /nick NAME, /who, /quit.
-- With max_clients it exits once that many clients have come and gone.
local socket = require'socket2'

local port, max_clients = tonumber(arg[1]) or 0, tonumber(arg[2])

local server = assert(socket.tcp())
assert(server:listen('127.0.0.1', port))
print('chat server on ' .. tostring(server:getsockname()))
io.stdout:flush()

local clients = {} -- stream -> nick
local seen, gone = 0, 0

local function broadcast(from, line)
  for st in pairs(clients) do
    if st ~= from then
      st:write(line, '\n')
      st:flush()
    end
  end
end

local function serve(st, remote)
  seen = seen + 1
  clients[st] = 'guest' .. seen
  st:write('welcome ', clients[st], '\n')
  st:flush()
  broadcast(st, '* ' .. clients[st] .. ' joined')
  while true do
    local line = st:readline(false, 4096)
    if not line or line == '/quit' then break end
    local nick = line:match'^/nick%s+(%S+)$'
    if nick then
      broadcast(st, '* ' .. clients[st] .. ' is now ' .. nick)
      clients[st] = nick
    elseif line == '/who' then
      local names = {}
      for _, n in pairs(clients) do names[#names + 1] = n end
      table.sort(names)
      st:write('* here: ', table.concat(names, ' '), '\n')
      st:flush()
    else
      broadcast(st, clients[st] .. ': ' .. line)
    end
  end
  local nick = clients[st]
  clients[st] = nil
  st:close()
  broadcast(nil, '* ' .. nick .. ' left')
  gone = gone + 1
  if gone == max_clients then server:close() end
end

socket.newthread(function()
  while true do
    local c, remote = server:accept()
    if not c then break end
    socket.newthread(serve, socket.stream(c), remote)
  end
end)

socket.start()
