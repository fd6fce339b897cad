-- bench/tls/alloc.lua [OPS] [certdir]: socket2.tls's data path in steady
-- state allocates nothing (bench/alloc.lua's check, over TLS).
--
-- Two socket2 threads play a 32-byte ping-pong over a TLS 1.3 connection
-- on loopback: the client sendall()s 32 bytes and recv()s 32 back; the
-- server echoes. Every record goes through SSL_write_ex -> the write BIO ->
-- sendall, and recv -> the read BIO -> SSL_read_ex. After a warm-up the GC
-- is stopped and OPS recv/send operations (4 per round trip) must not grow
-- collectgarbage('count'); jit.v counts trace aborts in the steady state.
local ffi = require'ffi'
local socket = require'socket2'
local tls = require'socket2.tls'
assert(tls.available())

local OPS = tonumber(arg and arg[1]) or 400000
local WARM = 20000
local ROUNDS = math.floor(OPS / 4)
local D = arg and arg[2]
if not D then
  D = os.tmpname(); os.remove(D)
  assert(os.execute('sh tools/tls/certs.sh ' .. D .. ' >/dev/null') == 0)
end
D = D:gsub('/?$', '/')
local sctx = assert(tls.context{server = true, cert = D .. 'chain.pem', key = D .. 'server.key'})
local cctx = assert(tls.context{ca = D .. 'ca.pem'})

local srv = assert(socket.listen('127.0.0.1', 0))
local port = srv:getsockname():port()
socket.newthread(function()
  local ts = tls.wrap(assert(srv:accept()), sctx)
  local b = ffi.new('uint8_t[?]', 64)
  while true do
    local n = ts:recv(b, 64)
    if not n or n == 0 then break end
    if not ts:sendall(b, n) then break end
  end
  ts:close()
end)

local kb0, kb1, t0, t1, failed
local vlog = os.tmpname()
socket.newthread(function()
  local ts = assert(tls.connect('localhost', port, cctx))
  local req = ffi.new('uint8_t[?]', 32)
  local buf = ffi.new('uint8_t[?]', 64)
  local function rounds(k)
    for _ = 1, k do
      if not ts:sendall(req, 32) then failed = 'send'; return end
      local n = ts:recv(buf, 64)
      if n ~= 32 then failed = 'recv ' .. tostring(n); return end
    end
  end
  rounds(WARM)
  collectgarbage('collect')
  collectgarbage('stop')
  kb0 = collectgarbage('count')
  t0 = socket.clock()
  rounds(ROUNDS)
  t1 = socket.clock()
  kb1 = collectgarbage('count')
  collectgarbage('restart')
  require'jit.v'.on(vlog)
  rounds(ROUNDS)
  require'jit.v'.off()
  ts:close()
  srv:close()
end)
socket.start()
if failed then error('ping-pong failed: ' .. failed) end
local ops = ROUNDS * 4
local grew = kb1 - kb0
print(('alloc: socket2.tls 32-byte ping-pong over loopback TLS 1.3, %d recv/send ops after %d warm-up round trips: '
  .. 'collectgarbage("count") %+.1f KB (%.3f bytes/op), %.2f us/round trip -- %s')
  :format(ops, WARM, grew, grew * 1024 / ops, (t1 - t0) / ROUNDS * 1e6, grew * 1024 / ops < 0.01 and 'OK' or 'ALLOCATES'))
local f = io.open(vlog)
local log = f and f:read'*a' or ''
if f then f:close() end
os.remove(vlog)
local aborts = 0
for line in log:gmatch'[^\n]+' do if line:find'TRACE %d+ abort' or line:find'^%[TRACE %-%-%-' then aborts = aborts + 1 end end
print(('trace: steady state: %d new traces, %d aborts'):format(select(2, log:gsub('TRACE %d+ start', '')), aborts))
if not arg[2] then os.execute('rm -rf ' .. D) end
