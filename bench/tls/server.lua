-- bench/tls/server.lua CERT KEY: the socket2.tls benchmark server, with the
-- application logic of every benchmark server (bench/app.lua): HTTP
-- "Hello, World!" over keep-alive, and the "BULK a b" protocol. One thread
-- accepts, one thread per connection.
local ffi = require'ffi'
local socket = require'socket2'
local tls = require'socket2.tls'
local app = require'app'

local ctx = assert(tls.context{server = true, cert = arg[1], key = arg[2]})
local chunk = ffi.new('uint8_t[?]', app.CHUNK)

-- a connection as bench/app.lua wants it; the first bytes choose HTTP or BULK
local C = {}
C.__index = C
function C:recv(buf, len)
  if self.pre then -- the peeked first bytes
    local n = math.min(len, #self.pre)
    ffi.copy(buf, self.pre, n)
    self.pre = n < #self.pre and self.pre:sub(n + 1) or nil
    return n
  end
  return self.s:recv(buf, len)
end
function C:sendall(buf, len) return self.s:sendall(buf, len) end
function C:discard(len)
  if self.pre then return self:recv(chunk, len) end
  return self.s:recv(chunk, len)
end
function C:send_chunk(len) return self.s:sendall(chunk, len) end
function C:close() return self.s:close() end

local first = ffi.new('uint8_t[?]', 16)
local function serve(c)
  c:setopt('nodelay', true) -- (as the C server and nginx: no Nagle wait behind a ticket)
  local ts = tls.wrap(c, ctx)
  local n = ts:recv(first, 5)
  if not n or n == 0 then ts:close() return end
  local conn = setmetatable({s = ts, pre = ffi.string(first, n)}, C)
  if conn.pre:sub(1, 1) == 'B' then app.bulk_serve(conn) else app.serve(conn, 'http') end
end

local server = assert(socket.listen('127.0.0.1', 0, 1024))
socket.newthread(function()
  while true do
    local c = server:accept()
    if c then socket.newthread(serve, c) end
  end
end)
app.ready(server:getsockname():port())
socket.start()
