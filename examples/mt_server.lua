-- examples/mt_server.lua: a small HTTP/1.1 server on N OS threads that
-- share one kernel object (epoll fd, kqueue, IOCP port), each with its own
-- SO_REUSEPORT listener on the same port (the kernel spreads new
-- connections over them). Where there is no SO_REUSEPORT (Windows), the
-- main state accepts on one listener and hands each connection to a
-- thread: s:release() here, socket.wrap(fd) there.
--
--   luajit examples/mt_server.lua              -- 2 threads; 200 clients test it, then it stops
--   luajit examples/mt_server.lua 4 500 20     -- 4 threads, 500 clients x 20 requests each
--   luajit examples/mt_server.lua serve 2 8080 -- serve on port 8080 until killed
--                                                 (try: curl -s localhost:8080/)
--
-- Each thread is a fresh Lua state (socket2.thread): it shares the main
-- state's kernel object, then makes and owns its sockets. What crosses
-- between states is the epoll fd number and a few plain values; the
-- threads report to the main state over a control connection, as any two
-- programs would.
local socket = require'socket2'
local thread = require'socket2.thread'

local args = {...}
local serve_only = args[1] == 'serve'
if serve_only then table.remove(args, 1) end
local nthreads = tonumber(args[1]) or 2
local nclients = tonumber(args[2]) or 200
local nrequests = tonumber(args[3]) or 10
local want_port = serve_only and tonumber(args[2]) or 0

-- The server thread: runs in its own Lua state, so it requires what it
-- uses and gets everything else as arguments.
local function server_thread(share, h, id, port, ctl_port, reuseport)
  local socket = require'socket2' -- luacheck: ignore (a new state: nothing is shadowed)
  socket[share](h) -- share the main state's kernel object: before any other socket2 call

  local ctl = assert(socket.tcp())
  assert(ctl:connect('127.0.0.1', ctl_port))
  local ctl_st = socket.stream(ctl)

  local srv
  if reuseport then
    srv = assert(socket.tcp())
    assert(srv:setopt('reuseport', true))
    assert(srv:listen(1024, '127.0.0.1', port))
  end

  local requests, conns = 0, 0
  local body = ('hello from thread %d\n'):format(id)
  local reply = ('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s'):format(#body, body)

  local function handle(c)
    conns = conns + 1
    local st = socket.stream(c)
    while true do
      local line = st:readline()          -- request line; nil when the client is gone
      if not line then break end
      repeat                              -- skip the headers up to the empty line
        local hdr = st:readline()
        if not hdr then line = nil break end
      until hdr == ''
      if not line then break end
      if not (st:write(reply) and st:flush()) then break end
      requests = requests + 1
    end
    c:close()
  end

  if srv then
    socket.newthread(function()
      while true do
        local c = srv:accept()
        if not c then break end           -- the listener was closed: stop accepting
        socket.newthread(handle, c)
      end
    end)
  end

  ctl_st:write'ready\n'
  ctl_st:flush()
  socket.newthread(function()
    while true do                         -- 'fd N': a connection handed over; 'stop'
      local line = ctl_st:readline()      -- (or nil if the main state went away)
      local fd = line and tonumber(line:match'^fd (%d+)$')
      if not fd then break end
      socket.newthread(handle, assert(socket.wrap(fd)))
    end
    if srv then srv:close() end
    ctl:close()
  end)
  socket.start()                          -- until the listener and every client are done
  return requests, conns
end

-- main ------------------------------------------------------------------------

-- the kernel object every thread will share: socket.epoll_fd() on Linux
local share = ({epoll = 'epoll_fd', kqueue = 'kqueue_fd', iocp = 'iocp', io_uring = 'io_uring_fd'})[socket.backend]
local h = socket[share]()

-- With SO_REUSEPORT: reserve the port with a bound socket that never
-- listens, so it takes no connections but keeps the port ours while the
-- threads bind it. Without: this is the one listener, accepting for all.
local reserve = assert(socket.tcp())
local reuseport = pcall(reserve.setopt, reserve, 'reuseport', true)
if reuseport then assert(reserve:bind('127.0.0.1', want_port))
else assert(reserve:listen(1024, '127.0.0.1', want_port)) end
local port = reserve:getsockname():port()

local ctl = assert(socket.tcp())
assert(ctl:listen('127.0.0.1', 0))
local threads = {}
for i = 1, nthreads do
  threads[i] = assert(thread.new(server_thread, share, h, i, port, ctl:getsockname():port(), reuseport))
end

socket.run(function()
  local conns = {}
  for i = 1, nthreads do
    local c = assert(ctl:accept())
    conns[i] = socket.stream(c)
    assert(conns[i]:readline() == 'ready')
  end
  ctl:close()
  print(('%d threads serving http://127.0.0.1:%d/ sharing one %s (%s)%s'):format(nthreads, port,
    socket.backend == 'epoll' and 'epoll fd' or socket.backend, tostring(h),
    reuseport and '' or ', connections handed over by one acceptor'))
  if not reuseport then
    socket.newthread(function()           -- the acceptor: round robin over the threads
      local i = 0
      while true do
        local c = reserve:accept()
        if not c then break end
        i = i % nthreads + 1
        conns[i]:write('fd ', c:release(), '\n')
        conns[i]:flush()
      end
    end)
  end

  if serve_only then socket.suspend() end -- until the process is killed

  -- clients: each opens a keep-alive connection and makes nrequests requests
  local by_thread, ok, t0 = {}, 0, socket.clock()
  local left = nclients
  local me = socket.currentthread()
  for _ = 1, nclients do
    socket.newthread(function()
      local c = assert(socket.tcp())
      assert(c:connect('127.0.0.1', port))
      local st = socket.stream(c)
      for _ = 1, nrequests do
        assert(st:write'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
        local len
        repeat
          local line = assert(st:readline())
          len = len or tonumber(line:match'^Content%-Length: (%d+)')
        until line == ''
        local from = tonumber(assert(st:read(len)):match'thread (%d+)')
        by_thread[from] = (by_thread[from] or 0) + 1
        ok = ok + 1
      end
      c:close()
      left = left - 1
      if left == 0 then socket.resume(me) end
    end)
  end
  socket.suspend()
  local dt = socket.clock() - t0
  print(('%d clients x %d requests: %d responses in %.2f s (%.0f/s, client and server on this machine)')
    :format(nclients, nrequests, ok, dt, ok / dt))
  for i = 1, nthreads do
    print(('  thread %d answered %d'):format(i, by_thread[i] or 0))
  end

  reserve:close()                         -- (no more accepts either)
  for i = 1, nthreads do conns[i]:write'stop\n'; conns[i]:flush() end
  for i = 1, nthreads do
    local done, requests, nconns = threads[i]:join()
    assert(done, requests)
    print(('  thread %d: %d requests on %d connections'):format(i, requests, nconns))
    conns[i]:close()
  end
end)
reserve:close()
