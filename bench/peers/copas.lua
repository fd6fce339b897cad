-- bench/peers/copas.lua WORKLOAD: the benchmark server on LuaSocket +
-- copas, as a copas user writes it: a handler per connection, receive as
-- soon as some data is there (receivePartial), send strings. The bytes go
-- through bench/app.lua like every other server.
local ffi = require'ffi'
local copas = require'copas'
local socket = require'socket'
local app = require'app'

local kind = app.args(arg)
local chunk = string.rep('x', app.CHUNK)

local function recv_str(skt, len)
  local s, _, part = copas.receivePartial(skt, len)
  return s or part
end

local Conn = {}
Conn.__index = Conn
function Conn:recv(buf, len)
  local s = recv_str(self.skt, len)
  if not s or #s == 0 then return 0 end
  ffi.copy(buf, s, #s)
  return #s
end
function Conn:sendall(buf, len)
  return copas.send(self.skt, ffi.string(buf, len))
end
function Conn:discard(len)
  local s = recv_str(self.skt, len)
  return s and #s or 0
end
function Conn:send_chunk(len)
  return copas.send(self.skt, len == #chunk and chunk or chunk:sub(1, len))
end
function Conn:close() self.skt:close() end

local srv = assert(socket.bind('127.0.0.1', 0, 4096))
local _, port = srv:getsockname()

copas.addserver(srv, function(skt)
  local c = setmetatable({skt = skt}, Conn)
  if kind == 'bulk' then app.bulk_serve(c) else app.serve(c, kind) end
end)

app.ready(tonumber(port))
copas.loop()
