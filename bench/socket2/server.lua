-- bench/socket2/server.lua WORKLOAD: the benchmark server on socket2.
-- One thread accepts, one thread per connection runs bench/app.lua.
local ffi = require'ffi'
local socket = require'socket2'
local app = require'app'

local kind = app.args(arg)

-- the connection as bench/app.lua wants it
local chunk = ffi.new('uint8_t[?]', app.CHUNK)
local S2 = {}
S2.__index = S2
local function conn(s) return setmetatable({s = s}, S2) end
function S2:recv(buf, len) return self.s:recv(buf, len) end
function S2:sendall(buf, len) return self.s:sendall(buf, len) end
function S2:discard(len) return self.s:recv(chunk, len) end
function S2:send_chunk(len) return self.s:sendall(chunk, len) end
function S2:close() return self.s:close() end

local server = assert(socket.tcp())
assert(server:listen('127.0.0.1', 0))

socket.newthread(function()
  while true do
    local c = server:accept()
    if c then
      if kind == 'bulk' then
        socket.newthread(app.bulk_serve, conn(c))
      else
        socket.newthread(app.serve, c, kind)
      end
    end
  end
end)

app.ready(server:getsockname():port())
socket.start()
