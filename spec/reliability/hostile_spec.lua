-- spec/reliability/hostile_spec.lua: every public function and method, called with
-- hostile arguments in every position (wrong types, nil, huge, negative and
-- NaN numbers, embedded NULs, over-long strings and paths, bad pointers,
-- closed sockets): each call must raise a clear Lua error (a string naming
-- the function) or return nil, message, code, or succeed -- never crash,
-- hang or touch memory it does not own (`make asan` and `make valgrind` run
-- this file too). The tables below must name every method of every socket
-- kind and of streams: a new method without an entry fails the coverage test.
--
-- About 20,000 calls, a few seconds. HOSTILE_STATS=1 prints how they ended,
-- HOSTILE_TIMES=1 the time per entry, HOSTILE_DUMP=1 every accepted call.
--
-- Strings are chosen so that no name lookup ever leaves the machine: they
-- are numeric, contain a NUL, or are not valid host names (glibc refuses
-- those before asking DNS).
local ffi = require'ffi'
local socket = require'socket2'
local sched = require'socket2.sched'
local H = require'helpers'

local clock = socket.clock
local PARK = 0.005 * H.SLOW -- a call still parked after this is woken by closing its fixture
local STATS = {} -- outcome -> count (HOSTILE_STATS=1 prints them)

-- hostile values -------------------------------------------------------------

local closed_tcp = assert(socket.tcp()); closed_tcp:close()
local HOSTILE = {
  {'nil', nil}, {'true', true}, {'false', false},
  {'0', 0}, {'-1', -1}, {'1.5', 1.5}, {'-0.5', -0.5}, {'NaN', 0 / 0}, {'inf', math.huge}, {'-inf', -math.huge},
  {'2^31', 2 ^ 31}, {'2^32+3', 2 ^ 32 + 3}, {'-2^31-1', -2 ^ 31 - 1}, {'2^63', 2 ^ 63}, {'-1e308', -1e308},
  {"''", ''}, {"' '", ' '}, {"'-1'", '-1'}, {"'\\255'", '\255'}, {"'\\0'", '\0'}, {"'a\\0b'", 'a\0b'},
  {"'127.0.0.1\\0x'", '127.0.0.1\0x'}, {"'/tmp\\0x'", '/tmp\0x'}, {"'1.2.3.4.5'", '1.2.3.4.5'},
  {'5000 digits', ('9'):rep(5000)}, {'300 letters', ('a'):rep(300)},
  {'table', {}}, {'function', function() end}, {'coroutine', coroutine.create(function() end)},
  {'userdata', io.stdout}, {'int[1]', ffi.new'int[1]'}, {'uint8_t[0]', ffi.new'uint8_t[0]'},
  {'NULL', ffi.cast('void*', 0)},
  -- a pointer socket2 cannot check: the kernel refuses it (EFAULT); valgrind
  -- would report the syscall, so it is left out there
  not H.VALGRIND and {'bad pointer', ffi.cast('uint8_t*', 1)} or {'bad pointer (valgrind: NULL)', ffi.cast('void*', 0)},
  {'int64 -1', ffi.new('int64_t', -1)}, {'uint64 max', ffi.new('uint64_t', -1)},
  {'closed socket', closed_tcp}, {'sockaddr', socket.sockaddr('127.0.0.1', 1)},
}
-- numbers a socket2 call may legitimately wait for (seconds or deadlines)
local WAITS = {['inf'] = true, ['2^31'] = true, ['2^32+3'] = true, ['2^63'] = true}

-- Lua's own messages: a call that lets one of these escape did not check
-- its arguments (the message does not say which function or argument)
local UNCLEAR = {
  'attempt to ', 'cannot convert', 'bad argument #%d+ to \'[%w_]+\' %(', 'invalid value', 'table index is',
  'stack overflow', 'number has no integer representation',
}
local OWN_ARGS = "bad argument #%d+ to '([%w_.]+)'"

-- fixtures -------------------------------------------------------------------

local fx = {} -- kind -> fixture {s = the socket to call, extra = sockets to close}
local listener, lport

local function close_all(t)
  for _, o in ipairs(t) do if not o:closed() then o:close() end end
end

local function tcp_pair(data)
  local server
  socket.newthread(function() server = assert(listener:accept()) end)
  local c = assert(socket.tcp())
  assert(c:connect('127.0.0.1', lport))
  while not server do socket.poll(0.1) end
  if data then assert(c:send(data)) end
  return server, c
end

local unix_n, pid = 0
do
  local f = io.open('/proc/self/stat')
  pid = f and f:read'*n' or os.time()
  if f then f:close() end
end
local function unix_name() -- abstract: no file is made
  unix_n = unix_n + 1
  return ('\0socket2-hostile-%d-%d'):format(pid, unix_n)
end

local make = {
  none = function() return {extra = {}} end,
  tcp = function() local s = assert(socket.tcp()); return {s = s, extra = {s}} end,
  tcp_conn = function()
    local s, c = tcp_pair('hello world, here is data\n')
    return {s = s, extra = {s, c}}
  end,
  tcp_idle = function() -- nothing to read: reads park
    local s, c = tcp_pair()
    return {s = s, extra = {s, c}}
  end,
  tcp_listen_idle = function()
    local l = assert(socket.tcp()); assert(l:listen('127.0.0.1', 0))
    return {s = l, extra = {l}}
  end,
  udp_idle = function()
    local s = assert(socket.udp()); assert(s:bind('127.0.0.1', 0))
    return {s = s, extra = {s}}
  end,
  stream_idle = function()
    local s, c = tcp_pair()
    return {s = socket.stream(s), extra = {s, c}}
  end,
  tcp_listen = function()
    local l = assert(socket.tcp()); assert(l:listen('127.0.0.1', 0))
    local c = assert(socket.tcp()); assert(c:connect('127.0.0.1', l:getsockname():port()))
    return {s = l, extra = {l, c}}
  end,
  udp = function()
    local s = assert(socket.udp()); assert(s:bind('127.0.0.1', 0))
    local c = assert(socket.udp()); assert(c:send('datagram', nil, s:getsockname()))
    return {s = s, extra = {s, c}}
  end,
  raw = function()
    local s, err = socket.raw()
    if not s then return nil, err end
    return {s = s, extra = {s}}
  end,
  unix_stream = function()
    local name = unix_name()
    local l = assert(socket.unix()); assert(l:listen(name))
    local server
    socket.newthread(function() server = assert(l:accept()) end)
    local c = assert(socket.unix()); assert(c:connect(name))
    while not server do socket.poll(0.1) end
    assert(c:send('hello unix\n'))
    return {s = server, extra = {server, c, l}}
  end,
  unix_dgram = function()
    local name = unix_name()
    local s = assert(socket.unix('dgram')); assert(s:bind(name))
    local c = assert(socket.unix('dgram')); assert(c:send('datagram', nil, name))
    return {s = s, extra = {s, c}}
  end,
  stream = function()
    local s, c = tcp_pair('line one\nline two\nrest')
    return {s = socket.stream(s), extra = {s, c}}
  end,
  fd = function() -- a descriptor to wait on (a socket's: portable)
    local u = assert(socket.udp())
    local w = assert(socket.wrap(u:release(), 'fd'))
    return {s = w, extra = {w}}
  end,
}

-- socket2.tls (issue 14): a TLS connection (client side, with a line to
-- read), a session, and a stand-in whose methods are tls.wrap/tls.starttls
-- on a fresh connection (self replaced by the hostile value at position 0)
local tlsmod, TLS_SKIP, tls_sctx, tls_cctx
do
  local T = require'tls.tlsh'
  TLS_SKIP = T.skip()
  if not TLS_SKIP then
    tlsmod = T.tls
    tls_sctx, tls_cctx = T.server_ctx(), T.client_ctx()
    local function tls_conn()
      local c, s = T.pair(tls_sctx, tls_cctx)
      assert(s:sendall('hello tls\n'))
      return c, s
    end
    make.tls = function()
      local c, s = tls_conn()
      return {s = c, extra = {c, s}}
    end
    make.tls_session = function()
      local c, s = tls_conn()
      local sess = assert(c:session())
      c:close(); s:close()
      return {s = sess, extra = {}}
    end
    make.tls_mod = function()
      local s, c = tcp_pair('not tls\n')
      local proxy = {}
      proxy.wrap = function(self, ...) return tlsmod.wrap(self == proxy and s or self, ...) end
      proxy.starttls = function(self, ...) return tlsmod.starttls(self == proxy and socket.stream(s) or self, ...) end
      return {s = proxy, extra = {s, c}}
    end
  end
end

-- socket2.ngx and socket2.luasocket (issue 15): a cosocket connected to a
-- server that sent a line, a udp cosocket with a peer, LuaSocket objects
-- (client, server, master, udp). Their failures are the cosocket or
-- LuaSocket way (nil, err: no code), which the entries say (loose).
local ngxmod = require'socket2.ngx'
local lsmod = package.searchpath('socket', package.path) and require'socket2.luasocket' or nil
ngxmod.socket2.conf.log = function() end -- (ngx.log with hostile messages: not on stderr)
do
  -- a compat object as a fixture's extra: closing it closes its socket
  -- (which wakes a call parked on it); closed once it has none
  local function handle(o)
    return {closed = function() return not o.s or (o.s.closed and o.s:closed()) end,
            close = function() pcall(o.close, o) end}
  end
  local function accept_one()
    local peer
    socket.newthread(function() peer = assert(listener:accept()) end)
    return function()
      while not peer do socket.poll(0.1) end
      return peer
    end
  end
  make.ngx_tcp = function()
    local sock = ngxmod.socket.tcp()
    local peer = accept_one()
    assert(sock:connect('127.0.0.1', lport))
    peer = peer()
    assert(peer:sendall('a line\r\nmore data here\n'))
    local h = handle(sock)
    return {s = sock, extra = {peer, h}, broken = h.closed}
  end
  make.ngx_udp = function()
    local u = assert(socket.udp()); assert(u:bind('127.0.0.1', 0))
    local sock = ngxmod.socket.udp()
    assert(sock:setpeername('127.0.0.1', u:getsockname():port()))
    local h = handle(sock)
    return {s = sock, extra = {u, h}, broken = h.closed}
  end
  if lsmod then
    make.ls_tcp = function()
      local peer = accept_one()
      local c = assert(lsmod.connect('127.0.0.1', lport))
      peer = peer()
      assert(peer:sendall('a line\r\nmore data here\n'))
      local h = handle(c)
      return {s = c, extra = {peer, h}, broken = h.closed}
    end
    make.ls_server = function()
      local srv = assert(lsmod.bind('127.0.0.1', 0))
      local h = handle(srv)
      return {s = srv, extra = {h}, broken = h.closed}
    end
    make.ls_master = function()
      local m = lsmod.tcp()
      return {s = m, extra = {handle(m)}, broken = function() return m.s ~= false end}
    end
    make.ls_udp = function()
      local u = assert(lsmod.udp())
      assert(u:setsockname('127.0.0.1', 0))
      local h = handle(u)
      return {s = u, extra = {h}, broken = h.closed}
    end
  end
end
-- what a compat call returned that must be closed (so nothing leaks)
local function compat_object(v)
  if type(v) ~= 'table' then return false end
  local mt = getmetatable(v)
  return mt and (mt.__index == require'socket2.ngx.tcp'.methods or mt.__index == require'socket2.ngx.udp'.methods
    or (lsmod and (mt.__index == require'socket2.luasocket.tcp'.methods
      or mt.__index == require'socket2.luasocket.udp'.methods)))
end

local function fixture(kind)
  local f = fx[kind]
  if f then
    local s = f.s
    local broken = s and ((socket.issocket(s) and s:closed()) or (s.socket and s.socket:closed())
      or (tlsmod and tlsmod.is_tls(s) and s:closed()) or (kind == 'tls_mod' and f.extra[1]:closed()))
    if f.broken and f.broken() then broken = true end
    if not broken then return f end
    close_all(f.extra)
  end
  f = assert(make[kind]())
  fx[kind] = f
  return f
end

local function drop_fixtures()
  for k, f in pairs(fx) do close_all(f.extra); fx[k] = nil end
end

-- one hostile call ---------------------------------------------------------------

local pack = H.pack

local function describe_result(r)
  local t = {}
  for i = 1, r.n do t[i] = tostring(r[i]) end
  return table.concat(t, ', ')
end

-- Judges one outcome: nil when fine, else why not. A method called on
-- something that is not a socket (self) may raise any Lua error.
local function judge(names, r, any_error, loose)
  if r.hang then return 'hangs: still parked after its fixture was closed' end
  if r.loop_error then return 'the loop raised: ' .. r.loop_error end
  if r[1] == false then -- a Lua error
    local msg = r[2]
    if type(msg) ~= 'string' then return 'raised a non-string error: ' .. tostring(msg) end
    if any_error then return nil end
    local own = msg:match(OWN_ARGS)
    for _, p in ipairs(UNCLEAR) do
      if msg:find(p) and not (own and names[own]) then return 'unclear error: ' .. msg end
    end
    for n in pairs(names) do
      if msg:find(n, 1, true) then return nil end
    end
    return 'error does not name the function: ' .. msg
  end
  -- returned: nil, message, code -- or anything else (accepted)
  if r[2] == nil and r.n >= 3 then
    -- (loose: the cosocket and LuaSocket way, nil and a message)
    -- (and nil, nil: no result, as ngx.re.find says an unmatched group)
    if loose and (type(r[3]) == 'string' or r[3] == nil) then return nil end
    if type(r[3]) ~= 'string' or type(r[4]) ~= 'string' then
      return 'failure without message and code: ' .. describe_result({n = r.n - 1, unpack(r, 2, r.n)})
    end
  end
  return nil
end

-- Closes (or detaches) what a call returned, so nothing leaks.
local function dispose(r)
  for i = 2, r.n do
    local v = r[i]
    if tlsmod and tlsmod.is_tls(v) and not v:closed() then v:close() end
    if socket.issocket(v) and not v:closed() then
      if v._wrapped_hostile then v:release() else v:close() end
    end
    if compat_object(v) then pcall(v.close, v) end
  end
end

-- Runs f(args) in a thread; a call that parks is woken by closing its
-- fixture (parked for data that never comes is fine, stuck is not).
local function call(kind, f, args, nargs, may_wait)
  local fxt = fixture(kind)
  local r
  local co = socket.newthread(function() r = pack(pcall(f, fxt, unpack(args, 1, nargs))) end)
  -- the loop itself must never raise because of what a call did
  local function turn(t)
    local ok, err = pcall(socket.poll, t)
    if not ok then
      sched.reset_for_tests()
      r = r or {n = 1, loop_error = tostring(err)}
    end
  end
  local t0 = clock()
  while not r and clock() - t0 < PARK do turn(PARK / 4) end
  if not r then
    -- wake it: resume() ends a suspend(), closing its sockets any I/O wait
    pcall(socket.resume, co, 'resumed by the test')
    close_all(fxt.extra)
    t0 = clock()
    while not r and clock() - t0 < 0.1 do turn(0.01) end
    if not r then
      if may_wait then r = {n = 1, true, waited = true} else r = {n = 1, hang = true} end
      sched.reset_for_tests()
    end
  end
  return r
end

-- the API table ---------------------------------------------------------------------

-- Each entry: names the error may use, the fixture kind, the call
-- (receiving the fixture), the valid arguments (positions that hostile
-- values replace; position 0 is self for methods) and what may wait.
local BUF = ffi.new'uint8_t[64]'
local function meth(name, args, extra)
  local e = {method = name, args = args or {}}
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

local common = {
  meth('type'), meth('family'), meth('protocol'), meth('closed'), meth('fileno'), meth('kind'),
  meth('close'), meth('release'), meth('settimeout', {1}), meth('gettimeout'),
  meth('shutdown', {'rw'}), meth('getsockname'), meth('getpeername'),
  meth('getopt', {'rcvbuf'}), meth('setopt', {'rcvbuf', 65536}), meth('nread'),
  meth('wait', {'w', 0.01}, {wait = true}), meth('setblocking', {true}), meth('getblocking'), meth('cancel'),
}
local stream_methods = {
  meth('recv', {BUF, 16, nil, nil}, {wait = true}), meth('send', {'x', 1, nil, nil}, {wait = true}),
  meth('sendall', {'x', 1, nil}, {wait = true}), meth('recvall', {BUF, 1, nil}, {wait = true}),
  meth('accept', {nil}, {wait = true}), meth('atmark'),
  meth('sendfile', {'/etc/hostname', 0, 1, nil}, {wait = true}),
}
local function ip_stream(kind)
  return {
    meth('bind', {'127.0.0.1', 0}), meth('connect', {'127.0.0.1', 1, nil}, {wait = true}),
    meth('listen', {'127.0.0.1', 0, 8}, {names = {'bind'}}),
  }
end
local dgram_methods = {
  meth('send', {'x', 1, nil, nil, nil, nil}, {wait = true}),
  meth('sendto', {'x', 1, nil, nil, nil, nil}, {wait = true, names = {'send'}}),
  meth('recv', {BUF, 16, nil, nil}, {wait = true}), meth('recvfrom', {BUF, 16, nil, nil, nil}, {wait = true}),
  meth('disconnect'),
}
local function ip_dgram()
  return {meth('bind', {'127.0.0.1', 0}), meth('connect', {'127.0.0.1', 9, nil}, {wait = true})}
end
local function unix_addr()
  return {meth('bind', {'\0socket2-hostile-bind'}), meth('connect', {'\0socket2-hostile-none', nil}, {wait = true})}
end
local unix_stream_extra = {meth('listen', {'\0socket2-hostile-l', nil, 8}, {names = {'bind'}})}

local function concat(...)
  local t = {}
  for _, l in ipairs{...} do for _, e in ipairs(l) do t[#t + 1] = e end end
  return t
end

local KINDS = {
  -- method table name, fixture kind, entries
  {'tcp', 'tcp_conn', concat(common, stream_methods, ip_stream())},
  {'tcp', 'tcp_listen', {meth('accept', {nil}, {wait = true}), meth('listen', {8}, {names = {'bind'}}),
    meth('getsockname')}},
  {'tcp', 'tcp', {meth('connect', {'127.0.0.1', 1, nil}, {wait = true}), meth('bind', {'127.0.0.1', 0})}},
  -- reads that park: every deadline and timeout value goes into the timer heap
  {'tcp', 'tcp_idle', {meth('recv', {BUF, 16, nil, nil}, {wait = true}), meth('recvall', {BUF, 1, nil}, {wait = true}),
    meth('wait', {'r', 0.01}, {wait = true})}},
  {'tcp', 'tcp_listen_idle', {meth('accept', {nil}, {wait = true})}},
  {'udp', 'udp', concat(common, dgram_methods, ip_dgram())},
  {'udp', 'udp_idle', {meth('recv', {BUF, 16, nil, nil}, {wait = true}),
    meth('recvfrom', {BUF, 16, nil, nil, nil}, {wait = true})}},
  {'raw', 'raw', concat(common, dgram_methods, {meth('bind', {'127.0.0.1', 0}), meth('connect', {'127.0.0.1', 0, nil})})},
  {'unix_stream', 'unix_stream', concat(common, stream_methods, unix_addr(), unix_stream_extra)},
  {'unix_dgram', 'unix_dgram', concat(common, dgram_methods, unix_addr())},
  {'fd', 'fd', {meth('closed'), meth('fileno'), meth('kind'), meth('close'), meth('release'),
    meth('settimeout', {1}), meth('gettimeout'), meth('wait', {'w', 0.01}, {wait = true}), meth('cancel')}},
}

local STREAM = {
  meth('readline', {false, 100, nil}, {wait = true}), meth('read', {4, nil}, {wait = true}),
  meth('readuntil', {'\n', 100, nil}, {wait = true}), meth('readany', {8, nil}, {wait = true}),
  meth('buffered'), meth('nbuffered'), meth('write', {'x', 'y'}, {wait = true}), meth('nwritten'),
  meth('flush', {nil}, {wait = true}), meth('settimeout', {1}), meth('gettimeout'), meth('close'),
  meth('starttls', {tls_sctx or 0, nil, nil}, {wait = true, names = {'flush', 'wrap'}}), -- socket2.tls
}

-- module functions: name, valid args, options
local function fn(name, args, extra)
  local e = {fn = name, args = args or {}}
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end
local MODULE = {
  fn('addr', {'127.0.0.1', 80, 'tcp', 'inet', 'tcp', nil, nil}),
  fn('sockaddr', {'127.0.0.1', 80}), fn('getnameinfo', {socket.sockaddr('127.0.0.1', 80), 3}),
  fn('getaddrinfo', {'127.0.0.1', 80, 'inet', 'tcp', 'tcp', nil, nil}),
  fn('htons', {80}), fn('ntohs', {80}), fn('htonl', {1}), fn('ntohl', {1}),
  fn('tcp', {'inet', 'tcp'}), fn('udp', {'inet', 'udp'}), fn('raw', {'inet', 'icmp'}), fn('unix', {'stream'}),
  fn('wrap', {0, 'tcp'}), fn('issocket', {closed_tcp}),
  fn('connect', {'127.0.0.1', 1, nil}, {wait = true}),
  -- listen binds first: its argument errors name bind
  fn('listen', {'127.0.0.1', 0, 8}, {names = {'bind'}}),
  fn('stream', {closed_tcp, 64}), fn('currentthread'), fn('clock'), fn('stats'),
  fn('epoll_fd', {nil}), fn('kqueue_fd', {nil}), fn('iocp', {nil}), fn('io_uring_fd', {nil}),
  fn('newthread', {function() end, 1}), fn('suspend', {}, {wait = true}), fn('resume', {coroutine.create(function() end)}),
  fn('sleep', {0.001}, {wait = true}), fn('sleep_until', {0}, {wait = true}),
  fn('run', {function() return 1 end}), fn('stop'),
  fn('join', {socket.newthread(function() end), 0}, {wait = true}),
  fn('kill', {socket.newthread(function() end)}), fn('onerror', {nil}),
  fn('select', {{}, nil, 0}, {wait = true}),
  -- poll and start are called from the test body below (they are the loop)
}

-- socket2.tls: every function of the module, every method of a TLS socket
-- and of a session
local TLS_KINDS, TLS_MODULE = {}, {}
if tlsmod then
  local D = require'tls.tlsh'.certs()
  TLS_KINDS = {
    {'tls', 'tls', {
      meth('recv', {BUF, 16, nil}, {wait = true, user_copy = true}),
      meth('send', {'x', 1, nil}, {wait = true, user_copy = true}),
      meth('sendall', {'x', 1, nil}, {wait = true, user_copy = true}),
      meth('recvall', {BUF, 1, nil}, {wait = true, user_copy = true}),
      meth('close', {nil}), meth('shutdown', {'w'}), meth('settimeout', {1}), meth('gettimeout'),
      meth('cancel'), meth('closed'), meth('fileno'), meth('getpeername'), meth('getsockname'),
      meth('wait', {'r', 0.01}, {wait = true}), meth('handshake', {nil}, {wait = true}),
      meth('alpn'), meth('version'), meth('cipher'), meth('servername'), meth('session'),
      meth('session_reused'), meth('peer_certificate'), meth('verify_result')}},
    {'tls_session', 'tls_session', {meth('resumable'), meth('export')}},
    {'tls_mod', 'tls_mod', {meth('wrap', {tls_cctx, {host = 'localhost'}}, {wait = true}),
      meth('starttls', {tls_sctx, nil, nil}, {wait = true, names = {'flush', 'wrap'}})}},
  }
  TLS_MODULE = {
    fn('available', {}, {mod = tlsmod}), fn('version', {}, {mod = tlsmod}),
    fn('context', {{ca = D .. 'ca.pem', alpn = {'h2'}, min_version = 'tls1.2'}}, {mod = tlsmod}),
    fn('session', {'x'}, {mod = tlsmod}), fn('is_tls', {1}, {mod = tlsmod}),
    fn('connect', {'127.0.0.1', 1, tls_cctx, nil}, {mod = tlsmod, wait = true}),
    fn('wrap', {closed_tcp, tls_cctx, {host = 'x'}}, {mod = tlsmod}),
    fn('starttls', {nil, tls_cctx, nil, nil}, {mod = tlsmod, wait = true}),
  }
end

-- socket2.ngx and socket2.luasocket (issue 15): every method of a
-- cosocket and of LuaSocket's objects, every function of both modules
local COMPAT_KINDS, COMPAT_MODULE, COMPAT_SKIP
do
  local function lm(name, args, extra)
    local e = meth(name, args, extra)
    e.loose = true
    return e
  end
  local function lf(mod, name, args, extra)
    local e = fn(name, args, extra)
    e.loose, e.mod = true, mod
    return e
  end
  local spawned = ngxmod.thread.spawn(function() end)
  local noop = function() end
  COMPAT_KINDS = {
    {'ngx_tcp', 'ngx_tcp', {
      lm('receive', {'*l'}, {wait = true}), lm('receive', {4}, {wait = true}), lm('receiveany', {4}, {wait = true}),
      lm('receiveuntil', {'\n', {inclusive = true}}), lm('send', {'x'}, {wait = true}),
      lm('settimeout', {100}, {names = {'timeout'}}), lm('settimeouts', {100, 100, 100}, {names = {'timeout'}}),
      lm('setkeepalive', {1000, 5}, {names = {'pool_size'}}), lm('getreusedtimes'), lm('close'),
      lm('setoption', {'keepalive', true}), lm('getoption', {'keepalive'}), lm('getfd'),
      lm('connect', {'127.0.0.1', 1, nil}, {wait = true, names = {'pool_size', 'backlog'}}),
      lm('bind', {'127.0.0.1', nil}), lm('sslhandshake', {false, 'localhost', false, nil}, {wait = true})}},
    {'ngx_udp', 'ngx_udp', {
      lm('setpeername', {'127.0.0.1', 9}, {wait = true}), lm('bind', {'127.0.0.1'}), lm('send', {'x'}),
      lm('receive', {16}, {wait = true}), lm('settimeout', {10}, {names = {'timeout'}}), lm('close')}},
  }
  COMPAT_MODULE = {
    lf(ngxmod.socket, 'tcp'), lf(ngxmod.socket, 'stream'), lf(ngxmod.socket, 'udp'),
    lf(ngxmod.socket, 'connect', {'127.0.0.1', 1, nil}, {wait = true}),
    lf(ngxmod, 'sleep', {0.001}, {wait = true}),
    lf(ngxmod.thread, 'spawn', {noop, 1}), lf(ngxmod.thread, 'wait', {spawned}, {wait = true}),
    lf(ngxmod.thread, 'kill', {spawned}),
    lf(ngxmod.timer, 'at', {0, noop}), lf(ngxmod.timer, 'every', {1, noop}, {names = {'delay'}}),
    lf(ngxmod.timer, 'running_count'), lf(ngxmod.timer, 'pending_count'),
    lf(ngxmod.re, 'match', {'abc', 'b', 'jo', nil, nil}), lf(ngxmod.re, 'find', {'abc', 'b', '', nil, 0}),
    lf(ngxmod.re, 'gmatch', {'abc', 'b', ''}), lf(ngxmod.re, 'sub', {'abc', 'b', '$0', ''}),
    lf(ngxmod.re, 'gsub', {'abc', 'b', noop, ''}),
    lf(ngxmod, 'encode_base64', {'x', nil}), lf(ngxmod, 'decode_base64', {'eA=='}),
    lf(ngxmod, 'escape_uri', {'x y', 2}), lf(ngxmod, 'unescape_uri', {'x%20y'}),
    lf(ngxmod, 'encode_args', {{a = '1'}}), lf(ngxmod, 'decode_args', {'a=1', 10}),
    lf(ngxmod, 'quote_sql_str', {'x'}), lf(ngxmod, 'md5', {'x'}), lf(ngxmod, 'md5_bin', {'x'}),
    lf(ngxmod, 'sha1_bin', {'x'}), lf(ngxmod, 'hmac_sha1', {'k', 'x'}), lf(ngxmod, 'crc32_short', {'x'}),
    lf(ngxmod, 'crc32_long', {'x'}), lf(ngxmod, 'now'), lf(ngxmod, 'time'), lf(ngxmod, 'update_time'),
    lf(ngxmod, 'today'), lf(ngxmod, 'localtime'), lf(ngxmod, 'utctime'), lf(ngxmod, 'http_time', {0}),
    lf(ngxmod, 'cookie_time', {0}), lf(ngxmod, 'parse_http_time', {'x'}), lf(ngxmod, 'log', {ngxmod.ERR, 'x'}),
    lf(ngxmod.worker, 'pid'), lf(ngxmod.worker, 'exiting'), lf(ngxmod.worker, 'id'), lf(ngxmod.worker, 'count'),
    lf(ngxmod.config, 'prefix'), lf(ngxmod.config, 'nginx_configure'),
    lf(ngxmod, 'exit', {200}), lf(ngxmod, 'exec', {'/'}), lf(ngxmod, 'redirect', {'/'}),
    lf(ngxmod, 'send_headers'), lf(ngxmod, 'eof'), lf(ngxmod, 'on_abort', {noop}), lf(ngxmod, 'get_phase'),
  }
  if lsmod then
    local function client() return {
      lm('receive', {'*l', nil}, {wait = true}), lm('send', {'x', 1, 1}, {wait = true}),
      lm('settimeout', {1, 'b'}), lm('gettimeout'), lm('close'), lm('shutdown', {'both'}),
      lm('getpeername'), lm('getsockname'), lm('getfamily'), lm('getfd'), lm('setfd', {-1}), lm('dirty'),
      lm('getstats'), lm('setstats', {1, 2, 3}), lm('setoption', {'keepalive', true}),
      lm('getoption', {'keepalive'}), lm('connect', {'127.0.0.1', 1}, {wait = true}),
      lm('setpeername', {'127.0.0.1', 1}, {wait = true, names = {'connect'}}),
      lm('bind', {'127.0.0.1', 0}), lm('setsockname', {'127.0.0.1', 0}, {names = {'bind'}}),
      lm('listen', {32}), lm('accept', {}, {wait = true})}
    end
    COMPAT_KINDS[#COMPAT_KINDS + 1] = {'ls_tcp', 'ls_tcp', client()}
    COMPAT_KINDS[#COMPAT_KINDS + 1] = {'ls_tcp', 'ls_server', {lm('accept', {}, {wait = true}),
      lm('getsockname'), lm('settimeout', {0.01, 't'}), lm('close')}}
    COMPAT_KINDS[#COMPAT_KINDS + 1] = {'ls_tcp', 'ls_master', {lm('bind', {'127.0.0.1', 0}), lm('listen', {32}),
      lm('connect', {'127.0.0.1', 1}, {wait = true}), lm('setoption', {'reuseaddr', true}),
      lm('getoption', {'reuseaddr'})}}
    COMPAT_KINDS[#COMPAT_KINDS + 1] = {'ls_udp', 'ls_udp', {
      lm('sendto', {'x', '127.0.0.1', 9}, {wait = true}), lm('receivefrom', {16}, {wait = true}),
      lm('setpeername', {'127.0.0.1', 9}, {wait = true}), lm('setsockname', {'127.0.0.1', 0}),
      lm('send', {'x'}, {wait = true}), lm('receive', {16}, {wait = true}), lm('settimeout', {1, 'b'}),
      lm('gettimeout'), lm('close'), lm('getpeername'), lm('getsockname'), lm('getfamily'), lm('getfd'),
      lm('setfd', {-1}), lm('dirty'), lm('setoption', {'broadcast', true}), lm('getoption', {'broadcast'})}}
    local core = require'socket2.luasocket.core'
    for _, e in ipairs{
      lf(core, 'tcp'), lf(core, 'tcp4'), lf(core, 'tcp6'), lf(core, 'udp'), lf(core, 'udp4'), lf(core, 'udp6'),
      lf(core, 'connect', {'127.0.0.1', 1, nil, nil, nil}, {wait = true, names = {'bind'}}),
      lf(core, 'select', {{}, nil, 0}, {wait = true}), lf(core, 'sleep', {0.001}, {wait = true}),
      lf(core, 'gettime'), lf(core, 'newtry', {nil}), lf(core, 'protect', {noop}), lf(core, 'skip', {1, 2}),
      lf(core, '__unload'),
      lf(core.dns, 'toip', {'127.0.0.1'}, {names = {'getaddrinfo'}}),
      lf(core.dns, 'tohostname', {'127.0.0.1'}, {names = {'getaddrinfo', 'getnameinfo'}}),
      lf(core.dns, 'gethostname'), lf(core.dns, 'getaddrinfo', {'127.0.0.1'}),
      lf(core.dns, 'getnameinfo', {'127.0.0.1', nil}),
      lf(core.unix, 'stream'), lf(core.unix, 'tcp'),
    } do COMPAT_MODULE[#COMPAT_MODULE + 1] = e end
  else
    COMPAT_SKIP = 'LuaSocket\'s Lua files are not installed: socket2.luasocket is not covered'
  end
end

-- runs every hostile value through every position of one entry
local function hostile_entry(kind, e, get_self)
  local t_entry = clock()
  local failures = {}
  local names = {}
  for _, n in ipairs(e.names or {}) do names[n] = true end
  names[e.method or e.fn] = true
  local nargs = #e.args
  -- the template may hold trailing nils: count them in
  for i = 1, 8 do if e.args[i] ~= nil then nargs = math.max(nargs, i) end end
  local positions = {}
  if e.method then positions[#positions + 1] = 0 end
  for i = 1, nargs + 1 do positions[#positions + 1] = i end
  for _, pos in ipairs(positions) do
    for _, hv in ipairs(HOSTILE) do
      -- (TLS copies a buffer in user space: no kernel refuses a bad pointer)
      if e.user_copy and hv[1]:find'^bad pointer' then goto next_value end
      local args = {}
      for i = 1, nargs do args[i] = e.args[i] end
      local n = math.max(nargs, pos)
      local f
      if pos == 0 then
        f = function(fxt, ...) local o = get_self(fxt); return o[e.method](hv[2], ...) end
      else
        args[pos] = hv[2]
        if e.method then
          f = function(fxt, ...) local o = get_self(fxt); return o[e.method](o, ...) end
        else
          f = function(_, ...) return (e.mod or socket)[e.fn](...) end
        end
      end
      local may_wait = e.wait and true or false
      local r = call(kind, f, args, n, may_wait)
      -- results of socket.wrap are not ours to close
      if e.fn == 'wrap' then
        for i = 2, r.n do if socket.issocket(r[i]) then r[i]._wrapped_hostile = true end end
      end
      dispose(r)
      local outcome = r.waited and 'waited' or r[1] == false and 'error'
        or (r[2] == nil and r.n >= 3) and 'nil_err_code' or 'returned'
      STATS[outcome] = (STATS[outcome] or 0) + 1
      if os.getenv'HOSTILE_DUMP' and outcome == 'returned' and pos > 0 and pos <= #e.args then
        io.stderr:write(('%s %s(arg %d = %s) -> %s\n'):format(kind, e.method or e.fn, pos, hv[1], describe_result(r)))
      end
      local why = judge(names, r, pos == 0, e.loose)
      if why then
        failures[#failures + 1] = ('%s(arg %d = %s): %s'):format(e.method or e.fn, pos, hv[1], why)
      end
      ::next_value::
    end
  end
  if os.getenv'HOSTILE_TIMES' then io.stderr:write(('%6.3f %s %s\n'):format(clock() - t_entry, kind, e.method or e.fn)) end
  return failures
end

local function have_raw()
  local s = socket.raw()
  if s then s:close() end
  return s ~= nil
end

local function fail_list(failures)
  if #failures > 0 then
    error(#failures .. ' bad outcome(s):\n  ' .. table.concat(failures, '\n  '), 2)
  end
end

describe('hostile input', function()
  before_each(function() listener, lport = H.listener() end)
  after_each(function()
    drop_fixtures()
    listener:close()
    H.no_leaks()
  end)

  it('the tables cover every method of every socket kind and of streams', function()
    local methods = require'socket2.socket'.methods
    local covered = {}
    for _, k in ipairs(KINDS) do
      covered[k[1]] = covered[k[1]] or {}
      for _, e in ipairs(k[3]) do covered[k[1]][e.method] = true end
    end
    local missing = {}
    for kind, m in pairs(methods) do
      for name in pairs(m) do
        if name:sub(1, 1) ~= '_' and not (covered[kind] and covered[kind][name]) then
          missing[#missing + 1] = kind .. ':' .. name
        end
      end
    end
    local s = assert(socket.tcp())
    local st = socket.stream(s)
    local scovered = {}
    for _, e in ipairs(STREAM) do scovered[e.method] = true end
    for name in pairs(getmetatable(st).__index) do
      if name:sub(1, 1) ~= '_' and not scovered[name] then missing[#missing + 1] = 'stream:' .. name end
    end
    s:close()
    local mcovered = {poll = true, start = true, backend = true, C = true}
    for _, e in ipairs(MODULE) do mcovered[e.fn] = true end
    for name in pairs(socket) do
      if not mcovered[name] then missing[#missing + 1] = 'socket.' .. name end
    end
    table.sort(missing)
    assert.equal('', table.concat(missing, ' '))
  end)

  for _, k in ipairs(KINDS) do
    for _, e in ipairs(k[3]) do
      it(('%s:%s (%s) survives hostile arguments'):format(k[1], e.method, k[2]), function()
        if k[2] == 'raw' and not have_raw() then pending('raw sockets need privileges') return end
        if k[2]:find'^unix' and not H.has_unix() then pending(H.NO_UNIX) return end
        fail_list(hostile_entry(k[2], e, function(f) return f.s end))
      end)
    end
  end

  for _, e in ipairs(STREAM) do
    it(('stream:%s survives hostile arguments'):format(e.method), function()
      fail_list(hostile_entry('stream', e, function(f) return f.s end))
    end)
  end
  for _, e in ipairs(STREAM) do
    if e.wait then
      it(('stream:%s (nothing to read) survives hostile arguments'):format(e.method), function()
        fail_list(hostile_entry('stream_idle', e, function(f) return f.s end))
      end)
    end
  end

  for _, e in ipairs(MODULE) do
    it(('socket.%s survives hostile arguments'):format(e.fn), function()
      fail_list(hostile_entry('none', e))
    end)
  end

  -- socket2.tls (issue 14)
  it('the TLS tables cover every function of socket2.tls and every method of a TLS socket and session', function()
    if TLS_SKIP then pending(TLS_SKIP) return end
    local covered = {}
    for _, k in ipairs(TLS_KINDS) do for _, e in ipairs(k[3]) do covered[k[1] .. ':' .. e.method] = true end end
    for _, e in ipairs(TLS_MODULE) do covered['tls.' .. e.fn] = true end
    local missing = {}
    for name in pairs(tlsmod.methods) do if not covered['tls:' .. name] then missing[#missing + 1] = 'tls:' .. name end end
    for name in pairs(tlsmod.session_methods) do
      if not covered['tls_session:' .. name] then missing[#missing + 1] = 'tls_session:' .. name end
    end
    for name, v in pairs(tlsmod) do
      if type(v) == 'function' and name:sub(1, 1) ~= '_' and not covered['tls.' .. name] then
        missing[#missing + 1] = 'tls.' .. name
      end
    end
    table.sort(missing)
    assert.equal('', table.concat(missing, ' '))
  end)
  for _, k in ipairs(TLS_KINDS) do
    for _, e in ipairs(k[3]) do
      it(('%s:%s survives hostile arguments'):format(k[1], e.method), function()
        fail_list(hostile_entry(k[2], e, function(f) return f.s end))
      end)
    end
  end
  for _, e in ipairs(TLS_MODULE) do
    it(('tls.%s survives hostile arguments'):format(e.fn), function()
      fail_list(hostile_entry('none', e))
    end)
  end

  -- socket2.ngx and socket2.luasocket (issue 15)
  local function compat_cleanup()
    ngxmod.socket2.pool_clear()
    ngxmod.socket2.shutdown() -- timers made by hostile calls run (premature) and end
    socket.start(1)
    ngxmod.socket2.reset()
    collectgarbage(); collectgarbage()
    socket.poll(0)
  end
  it('the compat tables cover every cosocket and LuaSocket method and every module function', function()
    local covered = {}
    for _, k in ipairs(COMPAT_KINDS) do for _, e in ipairs(k[3]) do covered[k[1] .. ':' .. e.method] = true end end
    local missing = {}
    local function need(prefix, methods)
      for name, v in pairs(methods) do
        if type(v) == 'function' and name:sub(1, 1) ~= '_' and not covered[prefix .. ':' .. name] then
          missing[#missing + 1] = prefix .. ':' .. name
        end
      end
    end
    need('ngx_tcp', require'socket2.ngx.tcp'.methods)
    need('ngx_udp', require'socket2.ngx.udp'.methods)
    local fcovered = {}
    for _, e in ipairs(COMPAT_MODULE) do fcovered[e.mod] = fcovered[e.mod] or {}; fcovered[e.mod][e.fn] = true end
    -- (ngx.say/print/flush write to standard output: TAP's)
    local SKIP = {say = true, print = true, flush = true}
    local function needf(prefix, t)
      for name, v in pairs(t) do
        if type(v) == 'function' and not SKIP[name] and not (fcovered[t] and fcovered[t][name]) then
          missing[#missing + 1] = prefix .. '.' .. name
        end
      end
    end
    needf('ngx', ngxmod); needf('ngx.socket', ngxmod.socket); needf('ngx.thread', ngxmod.thread)
    needf('ngx.timer', ngxmod.timer); needf('ngx.re', ngxmod.re); needf('ngx.worker', ngxmod.worker)
    needf('ngx.config', ngxmod.config)
    if lsmod then
      need('ls_tcp', require'socket2.luasocket.tcp'.methods)
      need('ls_udp', require'socket2.luasocket.udp'.methods)
      local core = require'socket2.luasocket.core'
      -- (LuaSocket's own socket.lua adds these to the core table: Lua, not ours)
      for _, k in ipairs{'bind', 'choose', 'connect4', 'connect6', 'sink', 'source', 'try'} do SKIP[k] = true end
      needf('socket.core', core); needf('socket.dns', core.dns); needf('socket.unix', core.unix)
    end
    table.sort(missing)
    assert.equal('', table.concat(missing, ' '))
  end)
  for _, k in ipairs(COMPAT_KINDS) do
    for _, e in ipairs(k[3]) do
      it(('%s:%s (%s) survives hostile arguments'):format(k[1], e.method, k[2]), function()
        local failures = hostile_entry(k[2], e, function(f) return f.s end)
        drop_fixtures()
        compat_cleanup()
        fail_list(failures)
      end)
    end
  end
  for _, e in ipairs(COMPAT_MODULE) do
    it(('compat %s survives hostile arguments'):format(e.fn), function()
      local failures = hostile_entry('none', e)
      compat_cleanup()
      fail_list(failures)
    end)
  end
  if COMPAT_SKIP then it('socket2.luasocket', function() pending(COMPAT_SKIP) end) end

  it('socket.poll and socket.start take hostile timeouts: a clear error, or they return on time', function()
    local failures = {}
    for _, name in ipairs{'poll', 'start'} do
      for _, hv in ipairs(HOSTILE) do
        -- something to wake up for, so a long wait is bounded
        local woke = false
        socket.newthread(function() socket.sleep(0.05 * H.SLOW); woke = true end)
        local t0 = clock()
        local r = pack(pcall(socket[name], hv[2]))
        local dt = clock() - t0
        local why = judge({[name] = true}, r)
        local short = 0.04 * H.SLOW
        local long_ok = WAITS[hv[1]] or hv[2] == nil or hv[2] == false or (type(hv[2]) == 'number' and hv[2] >= short)
        if not why and r[1] and dt > short and not long_ok then
          why = ('waited %.3f s for a timeout of %s'):format(dt, hv[1])
        end
        if why then failures[#failures + 1] = ('%s(%s): %s'):format(name, hv[1], why) end
        while not woke do socket.poll(1) end
      end
    end
    fail_list(failures)
  end)

  -- one test per socket kind, over every fixture of that kind
  local kind_names, kind_seen = {}, {}
  for _, k in ipairs(KINDS) do
    if not kind_seen[k[1]] then kind_seen[k[1]] = true; kind_names[#kind_names + 1] = k[1] end
  end
  for _, kind in ipairs(kind_names) do
    it(('every %s method on a closed socket: a Lua error saying closed, or a harmless answer'):format(kind), function()
      if kind == 'raw' and not have_raw() then pending('raw sockets need privileges') return end
      if kind:find'^unix' and not H.has_unix() then pending(H.NO_UNIX) return end
      local harmless = {closed = true, close = true, type = true, family = true, protocol = true,
        kind = true, gettimeout = true, getblocking = true}
      local failures = {}
      for _, k in ipairs(KINDS) do
        if k[1] == kind then
          local f = make[k[2]]()
          local s = f.s
          close_all(f.extra)
          for name, m in pairs(require'socket2.socket'.methods[k[1]]) do
            if name:sub(1, 1) ~= '_' then
              local r = pack(pcall(m, s, BUF, 1))
              if r[1] then
                if not harmless[name] then
                  failures[#failures + 1] = ('%s:%s on a closed socket returned %s'):format(k[1], name, describe_result(r))
                end
              elseif type(r[2]) ~= 'string' or not r[2]:find('closed', 1, true) then
                failures[#failures + 1] = ('%s:%s on a closed socket: %s'):format(k[1], name, tostring(r[2]))
              end
            end
          end
        end
      end
      fail_list(failures)
    end)
  end

  if os.getenv'HOSTILE_STATS' then
    teardown(function()
      local t = {}
      for k, v in pairs(STATS) do t[#t + 1] = k .. '=' .. v end
      io.stderr:write('hostile calls: ', table.concat(t, ' '), '\n')
    end)
  end

  it('unix paths: over-long, NUL inside, empty, abstract over-long: refused, never truncated', function()
    H.skip_unless(H.has_unix(), H.NO_UNIX)
    local cases = {
      {('x'):rep(108), 'ENAMETOOLONG'}, {'/tmp/' .. ('y'):rep(200), 'ENAMETOOLONG'},
      {'\0' .. ('z'):rep(108), 'ENAMETOOLONG'}, {('w'):rep(100000), 'ENAMETOOLONG'},
    }
    for _, kind in ipairs{'stream', 'dgram'} do
      for _, c in ipairs(cases) do
        for _, op in ipairs{'bind', 'connect'} do
          local s = assert(socket.unix(kind))
          local r = pack(s[op](s, c[1]))
          s:close()
          assert.is_nil(r[1])
          assert.equal(c[2], r[3])
        end
      end
      for _, p in ipairs{'', 'a\0b', '/tmp/x\0'} do
        local s = assert(socket.unix(kind))
        local ok, err = pcall(s.bind, s, p)
        s:close()
        assert.is_false(ok)
        assert.matches('bind', err)
      end
    end
    -- no file was made at a truncated name
    local f = io.open(('x'):rep(107))
    assert.is_nil(f)
  end)
end)
