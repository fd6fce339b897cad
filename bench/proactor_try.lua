-- bench/proactor_try.lua: on a completion backend, does trying the plain
-- non-blocking syscall first (and submitting an op only on EAGAIN) pay?
-- One process, two socket2 threads over loopback, CPU time per unit
-- (os.clock: user + system of the whole process), alternating the four
-- settings (recv / send tried first or not: io_proactor's functions are
-- replaced by versions that try first) so that load from other processes
-- spreads over all of them. Not part of make test.
--
--   SOCKET2_BACKEND=io_uring luajit bench/proactor_try.lua [rounds]
local ffi = require'ffi'
local socket = require'socket2'
assert(socket.backend == 'io_uring' or socket.backend == 'iocp', 'run with SOCKET2_BACKEND=io_uring')
local bit = require'bit'
local sys = require'socket2.os'
local errors = require'socket2.errors'
local P = require'socket2.io_proactor'

-- io_proactor's recv/send, and versions that try the plain syscall first
-- (MSG_DONTWAIT) and submit an op only when it says EAGAIN
local C, DONTWAIT = sys.C, assert(sys.MSG.dontwait, 'this OS has no MSG_DONTWAIT')
local plain = {recv = P.recv, send = P.send}
local function tried(name)
  local submit = plain[name]
  return function(s, buf, len, fl, expires)
    local f = bit.bor(fl, DONTWAIT)
    local n = name == 'recv' and C.recv(s.fd, buf, len, f) or C.send(s.fd, buf, len, f)
    if n >= 0 then return n end
    local e = sys.errno()
    if e ~= sys.EAGAIN and e ~= sys.EWOULDBLOCK and e ~= sys.EINTR then return errors.os(e) end
    return submit(s, buf, len, fl, expires)
  end
end
local try = {recv = tried'recv', send = tried'send'}

local PINGS, BULK, CHUNK = 20000, 64 * 2^20, 65536

local function pair()
  local l = assert(socket.tcp())
  assert(l:listen('127.0.0.1', 0))
  local server
  socket.newthread(function() server = assert(l:accept()) end)
  local c = assert(socket.tcp())
  assert(c:connect('127.0.0.1', l:getsockname():port()))
  while not server do socket.poll(1) end
  l:close()
  assert(c:setopt('nodelay', true)); assert(server:setopt('nodelay', true))
  return c, server
end

-- request/response: 32 bytes each way, one at a time
local function pingpong()
  local c, s = pair()
  local done, sdone = false, false
  socket.newthread(function()
    local buf = ffi.new'uint8_t[64]'
    for _ = 1, PINGS do
      assert(s:recvall(buf, 32)); assert(s:sendall(buf, 32))
    end
    sdone = true
  end)
  socket.newthread(function()
    local buf = ffi.new'uint8_t[64]'
    for _ = 1, PINGS do
      assert(c:sendall(buf, 32)); assert(c:recvall(buf, 32))
    end
    done = true
  end)
  local t0 = os.clock()
  while not (done and sdone) do socket.poll() end
  local dt = os.clock() - t0
  c:close(); s:close()
  return dt / PINGS * 1e6 -- us per round trip
end

-- one way, 64 KiB writes and reads
local function bulk()
  local c, s = pair()
  local done = 0
  socket.newthread(function()
    local buf = ffi.new('uint8_t[?]', CHUNK)
    local got = 0
    while got < BULK do got = got + assert(s:recv(buf, CHUNK)) end
    done = done + 1
  end)
  socket.newthread(function()
    local buf = ffi.new('uint8_t[?]', CHUNK)
    for _ = 1, BULK / CHUNK do assert(c:sendall(buf, CHUNK)) end
    done = done + 1
  end)
  local t0 = os.clock()
  while done < 2 do socket.poll() end
  local dt = os.clock() - t0
  c:close(); s:close()
  return dt / (BULK / 2^30) * 1e3 -- ms per GiB
end

local settings = {{false, false}, {false, true}, {true, false}, {true, true}}
local res = {}
local rounds = tonumber(arg[1]) or 5
for _ = 1, rounds do
  for i, st in ipairs(settings) do
    P.recv = st[1] and try.recv or plain.recv
    P.send = st[2] and try.send or plain.send
    res[i] = res[i] or {ping = {}, bulk = {}}
    table.insert(res[i].ping, pingpong())
    table.insert(res[i].bulk, bulk())
  end
end

local function median(t)
  table.sort(t)
  return t[math.ceil(#t / 2)]
end
print(('%s, %d rounds, median CPU: ping-pong us/round trip, bulk ms/GiB'):format(socket.backend, rounds))
print('try_recv try_send   ping-pong   bulk')
for i, st in ipairs(settings) do
  print(('%-8s %-8s %9.2f %9.1f'):format(tostring(st[1]), tostring(st[2]), median(res[i].ping), median(res[i].bulk)))
end
