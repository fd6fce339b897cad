-- bench/alloc.lua [OPS]: socket2's hot loop in steady state allocates
-- nothing and compiles without trace aborts.
--
-- Two socket2 threads play RESP ping-pong over a loopback TCP pair: the
-- client sendall()s "*1\r\n$4\r\nPING\r\n" and recv()s the reply; the
-- server is bench/app.lua's connection loop (recv, parse, sendall), as in
-- the benchmark server. Every recv parks its thread until the edge, so the
-- whole path runs: syscall, EAGAIN/short read, park, s2_wait, event
-- dispatch, wake, run queue, resume. After a warm-up the GC is stopped and
-- OPS recv/send operations (4 per round trip) must not grow
-- collectgarbage('count'); jit.v logs that window, which must hold no
-- trace abort.
local ffi = require'ffi'
local socket = require'socket2'
local app = require'app'

local OPS = tonumber(arg and arg[1]) or 1000000
local WARM = 20000 -- round trips before measuring
local ROUNDS = math.floor(OPS / 4)
local vlog = os.tmpname()

local srv = assert(socket.tcp())
assert(srv:listen('127.0.0.1', 0))
local port = srv:getsockname():port()

local server_conn
socket.newthread(function()
  server_conn = assert(srv:accept())
  app.serve(server_conn, 'resp')
end)

local kb0, kb1, t0, t1
local failed
socket.newthread(function()
  local c = assert(socket.tcp())
  assert(c:connect('127.0.0.1', port))
  local req = ffi.new('uint8_t[?]', 14)
  ffi.copy(req, '*1\r\n$4\r\nPING\r\n', 14)
  local buf = ffi.new('uint8_t[?]', 64)
  for i = 1, WARM + ROUNDS do
    if i == WARM + 1 then
      collectgarbage('collect')
      collectgarbage('stop')
      require'jit.v'.on(vlog)
      kb0 = collectgarbage('count')
      t0 = socket.clock()
    end
    if not c:sendall(req, 14) then failed = 'send'; break end
    local n = c:recv(buf, 64)
    if n ~= 7 or buf[0] ~= 43 then failed = 'recv'; break end -- "+PONG\r\n"
  end
  kb1 = collectgarbage('count')
  t1 = socket.clock()
  require'jit.v'.off()
  collectgarbage('restart')
  c:close()
  srv:close()
end)
socket.start()
if failed then error('ping-pong failed: ' .. failed) end

local ops = ROUNDS * 4
local grew = kb1 - kb0
print(('alloc: socket2 RESP ping-pong over loopback TCP, %d recv/send ops after %d warm-up round trips: '
  .. 'collectgarbage("count") %+.1f KB (%.2f bytes/op), %.2f us/round trip -- %s')
  :format(ops, WARM, grew, grew * 1024 / ops, (t1 - t0) / ROUNDS * 1e6, grew < 1 and 'OK' or 'ALLOCATES'))

-- trace aborts in the measured window
local aborts, traces = {}, 0
for line in io.lines(vlog) do
  if line:match'^%[TRACE%s+%d' then traces = traces + 1 end
  local what = line:match'^%[TRACE %-%-%- (.*)%]$'
  if what then aborts[#aborts + 1] = what end
end
os.remove(vlog)
print(('trace: steady state (jit.v over the measured window): %d new traces, %d aborts -- %s')
  :format(traces, #aborts, #aborts == 0 and 'OK' or 'ABORTS'))
for i = 1, math.min(#aborts, 10) do print('  abort: ' .. aborts[i]) end
