-- bench/threads/run.lua: requests per second of an echo server on 1 and 2
-- OS threads sharing one epoll fd, and the server's CPU time per request.
-- With SOCKET2_BACKEND=io_uring the threads' rings share the kernel's
-- async workers of the main state's ring instead (IORING_SETUP_ATTACH_WQ):
-- io_uring has no shared event object, and nothing is forwarded.
--
--   make bench-threads                      (builds the shim and the load)
--   luajit bench/threads/run.lua [seconds=5] [runs=3] [conns=64] [size=64]
--
-- The server threads are socket2.threads, each with its own SO_REUSEPORT
-- listener on one port, all sharing one epoll fd (made here, so the main
-- state's own loop, which only coordinates, is not part of the group). The
-- load is bench/threads/load.c: one C thread, conns connections, each
-- sending a size-byte request and waiting for its echo. It runs on the
-- same machine, so on 2 cores it takes CPU from the server: look at CPU
-- per request as well as requests per second. Reference row: 2 threads
-- with an epoll fd each (no sharing, no forwarding).
local ffi = require'ffi'
local socket = require'socket2'
local thread = require'socket2.thread'

local seconds = tonumber(arg[1]) or 5
local runs = tonumber(arg[2]) or 3
local conns = tonumber(arg[3]) or 64
local size = tonumber(arg[4]) or 64
local load = os.getenv'LOAD' or 'build/bench/load'

ffi.cdef[[
int epoll_create1(int flags);
struct s2b_timeval { long sec, usec; };
struct s2b_rusage { struct s2b_timeval utime, stime; long rest[14]; };
int getrusage(int who, struct s2b_rusage *usage);
]]
local RUSAGE_SELF, RUSAGE_CHILDREN = 0, -1

local function cpu(who)
  local ru = ffi.new'struct s2b_rusage'
  assert(ffi.C.getrusage(who, ru) == 0)
  return tonumber(ru.utime.sec) + tonumber(ru.utime.usec) / 1e6
       + tonumber(ru.stime.sec) + tonumber(ru.stime.usec) / 1e6
end

-- one server thread: an echo server on a reuseport listener
local function server(h, port, ctl_port)
  local ffi = require'ffi' -- luacheck: ignore (a new state: nothing is shadowed)
  local socket = require'socket2' -- luacheck: ignore
  if h >= 0 then
    if socket.backend == 'io_uring' then socket.io_uring_fd(h) else socket.epoll_fd(h) end
  end
  local ctl = assert(socket.tcp())
  assert(ctl:connect('127.0.0.1', ctl_port))
  local st = socket.stream(ctl)
  local srv = assert(socket.tcp())
  assert(srv:setopt('reuseport', true))
  assert(srv:listen(1024, '127.0.0.1', port))
  local requests = 0
  socket.newthread(function()
    while true do
      local c = srv:accept()
      if not c then break end
      c:setopt('nodelay', true)
      socket.newthread(function()
        local buf = ffi.new('uint8_t[?]', 4096)
        while true do
          local n = c:recv(buf, 4096)
          if not n or n == 0 then break end
          if not c:sendall(buf, n) then break end
          requests = requests + 1
        end
        c:close()
      end)
    end
  end)
  st:write'ready\n'
  st:flush()
  socket.newthread(function()
    st:readline()
    srv:close()
    ctl:close()
  end)
  socket.start()
  return requests
end

local uring = socket.backend == 'io_uring'
local function run_config(nthreads, shared)
  local h = -1
  if shared then h = uring and socket.io_uring_fd() or ffi.C.epoll_create1(0x80000) end -- EPOLL_CLOEXEC
  local reserve = assert(socket.tcp())
  assert(reserve:setopt('reuseport', true))
  assert(reserve:bind('127.0.0.1', 0))
  local port = reserve:getsockname():port()
  local ctl = assert(socket.tcp())
  assert(ctl:listen('127.0.0.1', 0))
  local ts, cs = {}, {}
  for i = 1, nthreads do ts[i] = assert(thread.new(server, h, port, ctl:getsockname():port())) end
  for i = 1, nthreads do
    cs[i] = socket.stream((assert(ctl:accept())))
    assert(cs[i]:readline() == 'ready')
  end
  ctl:close()

  local s0, c0 = cpu(RUSAGE_SELF), cpu(RUSAGE_CHILDREN)
  local p = assert(io.popen(('%s %d %d %g %d 0'):format(load, port, conns, seconds, size)))
  local out = p:read'*a'
  p:close()
  local s1, c1 = cpu(RUSAGE_SELF), cpu(RUSAGE_CHILDREN)
  local reqs, secs = out:match'requests (%d+) seconds ([%d.]+)'
  assert(reqs, 'load failed: ' .. out)
  reqs, secs = tonumber(reqs), tonumber(secs)

  for i = 1, nthreads do cs[i]:write'stop\n'; cs[i]:flush() end
  for i = 1, nthreads do assert(ts[i]:join()); cs[i]:close() end
  reserve:close()
  if shared and not uring then ffi.C.close(h) end
  return {rps = reqs / secs, server_us = (s1 - s0) / reqs * 1e6,
          server_cpu = (s1 - s0) / secs, client_cpu = (c1 - c0) / secs}
end
pcall(ffi.cdef, 'int close(int fd);')

local function median(t, k)
  local v = {}
  for i, r in ipairs(t) do v[i] = r[k] end
  table.sort(v)
  return v[math.ceil(#v / 2)]
end

local configs = uring and {
  {1, true, '1 thread'},
  {2, true, '2 threads, rings attached (ATTACH_WQ)'},
  {2, false, '2 threads, a ring each (reference)'},
} or {
  {1, true, '1 thread'},
  {2, true, '2 threads, one shared epoll fd'},
  {2, false, '2 threads, an epoll fd each (reference)'},
}
-- THREADS_CONFIGS=2,3: only those rows (to profile one configuration)
if os.getenv'THREADS_CONFIGS' then
  local keep = {}
  for i in os.getenv'THREADS_CONFIGS':gmatch'%d+' do keep[#keep + 1] = configs[tonumber(i)] end
  configs = keep
end
print(('echo server, %d connections, %d-byte requests, %g s x %d runs (median), %s, %d cores')
  :format(conns, size, seconds, runs, socket.backend, tonumber(io.popen'nproc':read'*l') or 0))
print(('%-42s %10s %14s %11s %11s'):format('', 'req/s', 'server us/req', 'server CPU', 'client CPU'))
local rows = {}
for _, cfg in ipairs(configs) do
  local res = {}
  for r = 1, runs do res[r] = run_config(cfg[1], cfg[2]) end
  local row = {rps = median(res, 'rps'), us = median(res, 'server_us'),
               scpu = median(res, 'server_cpu'), ccpu = median(res, 'client_cpu')}
  rows[#rows + 1] = row
  print(('%-42s %10.0f %14.2f %10.0f%% %10.0f%%'):format(cfg[3], row.rps, row.us, row.scpu * 100, row.ccpu * 100))
end
if #rows == 3 then
  print(('2 threads / 1 thread (%s): %.2fx requests/s, %.2fx CPU per request')
    :format(uring and 'attached rings' or 'shared epoll fd', rows[2].rps / rows[1].rps, rows[2].us / rows[1].us))
end
