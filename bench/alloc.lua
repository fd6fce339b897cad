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
-- collectgarbage('count'); then jit.v logs another OPS, which must hold no
-- trace abort that leaves hot code to the interpreter.
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
  local function rounds(k)
    for _ = 1, k do
      if not c:sendall(req, 14) then failed = 'send'; return end
      local n = c:recv(buf, 64)
      if n ~= 7 or buf[0] ~= 43 then failed = 'recv'; return end -- "+PONG\r\n"
    end
  end
  rounds(WARM)
  -- window 1: allocation, with the GC stopped so that nothing is hidden
  collectgarbage('collect')
  collectgarbage('stop')
  kb0 = collectgarbage('count')
  t0 = socket.clock()
  rounds(ROUNDS)
  t1 = socket.clock()
  kb1 = collectgarbage('count')
  collectgarbage('restart')
  -- window 2: the trace log (jit.v allocates as it writes)
  require'jit.v'.on(vlog)
  rounds(ROUNDS)
  require'jit.v'.off()
  c:close()
  srv:close()
end)
socket.start()
if failed then error('ping-pong failed: ' .. failed) end

local ops = ROUNDS * 4
local grew = kb1 - kb0
print(('alloc: socket2 RESP ping-pong over loopback TCP, %d recv/send ops after %d warm-up round trips: '
  .. 'collectgarbage("count") %+.1f KB (%.3f bytes/op), %.2f us/round trip -- %s')
  :format(ops, WARM, grew, grew * 1024 / ops, (t1 - t0) / ROUNDS * 1e6, grew * 1024 / ops < 0.01 and 'OK' or 'ALLOCATES'))

-- trace aborts in the second window. "inner loop in root trace" and
-- "leaving loop in root trace" are how LuaJIT picks trace start points
-- (the loop gets its own trace); anything else (NYI, bad argument type,
-- ...) leaves that code to the interpreter.
local aborts, traces, n_benign, n_bad = {}, 0, 0, 0
for line in io.lines(vlog) do
  if line:match'^%[TRACE%s+%d' then traces = traces + 1 end
  local what = line:match'^%[TRACE %-%-%- (.*)%]$'
  if what then
    local where, why = what:match'^(%S+) %-%- (.*)$'
    why = why or what
    local benign = why:match'^inner loop in root trace' or why:match'^leaving loop in root trace'
    if benign then n_benign = n_benign + 1 else n_bad = n_bad + 1 end
    local key = (benign and 'trace selection: ' or 'ABORT: ') .. why .. ' (from ' .. tostring(where) .. ')'
    aborts[key] = (aborts[key] or 0) + 1
  end
end
os.remove(vlog)
print(('trace: steady state (jit.v over another %d ops): %d new traces, %d aborts that leave code to the interpreter, '
  .. '%d trace-selection retries -- %s'):format(ops, traces, n_bad, n_benign, n_bad == 0 and 'OK' or 'ABORTS'))
local keys = {}
for k in pairs(aborts) do keys[#keys + 1] = k end
table.sort(keys, function(a, b) return aborts[a] > aborts[b] end)
for i = 1, math.min(#keys, 12) do print(('  %3dx %s'):format(aborts[keys[i]], keys[i])) end
