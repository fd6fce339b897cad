-- bench/socket2/server.lua WORKLOAD: the benchmark server on socket2.
-- One thread accepts, one thread per connection runs bench/app.lua.
local ffi = require'ffi'
local socket = require'socket2'
local app = require'app'

local kind = app.args(arg)
-- a backend asked for and refused by the kernel would be measured as epoll
local want = os.getenv'SOCKET2_BACKEND'
if want and want ~= '' and socket.backend ~= want then
  io.stderr:write('bench: socket2 runs on ', socket.backend, ', not ', want, '\n')
  os.exit(1)
end

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

-- under callgrind (bench/run.sh): callgrind_control reaches the process only
-- between syscalls, and valgrind does not see io_uring_enter as blocking, so
-- a loop blocked there would never let it in: wake the loop now and then
local tick = tonumber(os.getenv'SOCKET2_BENCH_TICK')
if tick then socket.newthread(function() while true do socket.sleep(tick) end end) end

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
