-- examples/chat_server.lua [port] [max_clients]
-- A line-based chat server on socket2 streams. Every line a client sends
-- goes to all the others as "nick: line". Commands: /nick NAME, /who, /quit.
-- With max_clients it exits once that many clients have come and gone.
--
-- One thread per client reads its lines; any thread writes to any client's
-- stream. A write only queues: each stream sends in the background, so a
-- client that stops reading holds up nobody else. Its queue grows instead,
-- and the server drops it once more than LIMIT bytes wait for it.
local socket = require'socket2'

local port, max_clients = tonumber(arg[1]) or 0, tonumber(arg[2])
local LIMIT = 32 * 1024 -- unsent bytes a client may fall behind by

local server = assert(socket.tcp())
assert(server:listen('127.0.0.1', port))
print('chat server on ' .. tostring(server:getsockname()))
io.stdout:flush()

local clients = {} -- stream -> nick
local seen, gone = 0, 0

local function broadcast(from, line)
  for st, nick in pairs(clients) do
    if st ~= from then
      if st:nwritten() > LIMIT then
        clients[st] = nil
        st.socket:close() -- it does not read: its reader ends with 'closed'
        broadcast(nil, '* ' .. nick .. ' dropped (not reading)')
      else
        st:write(line, '\n')
      end
    end
  end
end

local function serve(st)
  seen = seen + 1
  local me = 'guest' .. seen
  clients[st] = me
  st:write('welcome ', me, '\n')
  broadcast(st, '* ' .. me .. ' joined')
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
    else
      broadcast(st, clients[st] .. ': ' .. line)
    end
  end
  local nick = clients[st]
  if nick then -- (not dropped)
    clients[st] = nil
    st:close(5) -- what is still queued for it, for 5 s at most
    broadcast(nil, '* ' .. nick .. ' left')
  end
  gone = gone + 1
  if gone == max_clients then server:close() end
end

socket.newthread(function()
  while true do
    local c = server:accept()
    if not c then break end
    c:setopt('sndbuf', 16384) -- what the kernel holds for a client is bounded too
    socket.newthread(serve, socket.stream(c))
  end
end)

socket.start()
