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
-- collectgarbage('count'). jit.v logs the whole run except that window: no
-- trace may abort for a reason that leaves code to the interpreter (an NYI,
-- a bad argument type: LuaJIT blacklists such code after a few tries, so
-- later windows look clean while the interpreter runs it). The VM-state
-- profiler (jit.profile) shows where another OPS spend their time.
local ffi = require'ffi'
local socket = require'socket2'
local app = require'app'
local vlog = os.tmpname()
require'jit.v'.on(vlog)

local OPS = tonumber(arg and arg[1]) or 1000000
local WARM = 20000 -- round trips before measuring
local ROUNDS = math.floor(OPS / 4)

local srv = assert(socket.tcp())
assert(srv:listen('127.0.0.1', 0))
local port = srv:getsockname():port()

socket.newthread(function()
  local server_conn = assert(srv:accept())
  app.serve(server_conn, 'resp')
end)

local kb0, kb1, t0, t1
local vm = {}
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
  require'jit.v'.off()
  collectgarbage('collect')
  collectgarbage('stop')
  kb0 = collectgarbage('count')
  t0 = socket.clock()
  rounds(ROUNDS)
  t1 = socket.clock()
  kb1 = collectgarbage('count')
  collectgarbage('restart')
  -- window 2: trace log and VM states
  require'jit.v'.on(vlog .. '.2')
  local prof = require'jit.profile'
  prof.start('vi1', function(_, samples, vmstate) vm[vmstate] = (vm[vmstate] or 0) + samples end)
  rounds(ROUNDS)
  prof.stop()
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
  :format(ops, WARM, grew, grew * 1024 / ops, (t1 - t0) / ROUNDS * 1e6,
    grew * 1024 / ops < 0.01 and 'OK' or 'ALLOCATES'))

-- "inner loop in root trace" and "leaving loop in root trace" are how
-- LuaJIT picks trace start points (the loop gets a trace of its own);
-- anything else leaves that code to the interpreter, "blacklisted" too:
-- a start point that failed too often is never tried again, and a trace
-- that reaches it stops.
local function scan(file)
  local r = {traces = 0, bad = 0, benign = 0, keys = {}}
  local f = io.open(file)
  if not f then return r end
  for line in f:lines() do
    if line:match'^%[TRACE%s+%d' then r.traces = r.traces + 1 end
    local what = line:match'^%[TRACE %-%-%- (.*)%]$'
    if what then
      local where, why = what:match'^(%S+) %-%- (.*)$'
      why = why or what
      local benign = why:match'^inner loop in root trace' or why:match'^leaving loop in root trace'
      if benign then r.benign = r.benign + 1
      else
        r.bad = r.bad + 1
        local key = why .. ' (trace from ' .. tostring(where) .. ')'
        r.keys[key] = (r.keys[key] or 0) + 1
      end
    end
  end
  f:close()
  os.remove(file)
  return r
end
local whole, steady = scan(vlog), scan(vlog .. '.2')
print(('trace: whole run: %d traces, %d aborts that leave code to the interpreter, %d trace-selection retries; '
  .. 'steady state: %d new traces, %d aborts -- %s'):format(whole.traces, whole.bad, whole.benign,
  steady.traces, steady.bad + steady.benign, whole.bad + steady.bad == 0 and 'OK' or 'ABORTS'))
for _, r in ipairs{whole, steady} do
  local keys = {}
  for k in pairs(r.keys) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return r.keys[a] > r.keys[b] end)
  for i = 1, math.min(#keys, 8) do
    print(('  %s %3dx %s'):format(r == whole and 'warm-up:' or 'steady: ', r.keys[keys[i]], keys[i]))
  end
end

local total = 0
for _, v in pairs(vm) do total = total + v end
local names = {N = 'compiled', I = 'interpreted', C = 'C functions', G = 'GC', J = 'JIT compiler'}
local parts = {}
for _, k in ipairs{'N', 'I', 'C', 'G', 'J'} do
  if vm[k] then parts[#parts + 1] = ('%s %.0f%%'):format(names[k], 100 * vm[k] / total) end
end
print(('vm: where the steady state runs (jit.profile, %d samples; syscalls count as compiled): %s')
  :format(total, table.concat(parts, ', ')))
