-- spec/helpers.lua: what the spec files share (each does require'helpers').
-- H.no_leaks checks that nothing leaked: every socket closed (no
-- slot in use), no thread left waiting, no timer armed.
local socket = require'socket2'

local function leaks()
  local st = socket.stats()
  if st.slots ~= 0 or st.waiting ~= 0 or st.timers ~= 0 or st.queued ~= 0 then
    return ('leak after test: %d slots, %d waiting, %d timers, %d queued'):format(
      st.slots, st.waiting, st.timers, st.queued)
  end
end

local H = {}

-- The source tree root (this file is spec/helpers.lua).
H.ROOT = (debug.getinfo(1, 'S').source:sub(2):match'^(.*)[/\\]spec[/\\][^/\\]*$') or '.'

-- Is a closed socket still waiting for the end of an op? (completion backends)
local function closing()
  for _, o in ipairs(require'socket2.sched'.objects()) do
    if o._closed and (o._npending or 0) > 0 then return true end
  end
  return false
end

-- Every spec file's outer describe calls after_each(H.no_leaks): the test
-- that leaked fails, and what it left is cleaned so the next starts clean.
function H.no_leaks()
  -- a completion backend frees a closed socket's slot only once the kernel
  -- has ended its ops (cancelled by close): let those ends in first
  local guard = socket.clock() + 10
  while closing() and socket.clock() < guard do socket.poll(0.1) end
  local msg = leaks()
  if msg then
    for _, o in ipairs(require'socket2.sched'.objects()) do
      if o.close then o:close() end
    end
    require'socket2.sched'.reset_for_tests()
    error(msg, 2)
  end
end

-- A listening tcp socket on 127.0.0.1 (or ::1), port 0: server, port.
function H.listener(family)
  local s = assert(socket.tcp(family))
  assert(s:listen(family == 'inet6' and '::1' or '127.0.0.1', 0))
  return s, s:getsockname():port()
end

-- Is IPv6 loopback usable here?
function H.has_ipv6()
  local s = socket.udp('inet6')
  if not s then return false end
  local ok = s:bind('::1', 0)
  s:close()
  return ok == true
end

-- A connected pair of tcp sockets: client, server-side.
function H.pair(family)
  local l, port = H.listener(family)
  local server
  socket.newthread(function() server = assert(l:accept()) end)
  local c = assert(socket.tcp(family))
  assert(c:connect(family == 'inet6' and '::1' or '127.0.0.1', port))
  while not server do socket.poll(1) end
  l:close()
  return c, server
end

-- Platform facts for the few checks a platform cannot run. A check that
-- needs what the OS lacks calls H.skip_unless(H.has_x(), why): busted's
-- pending(), so the run reports it as skipped with its reason.
local ffi = require'ffi'
H.windows = ffi.os == 'Windows'
-- Wine (the Windows test bench here) is a reimplementation of Windows;
-- ntdll says so. A few checks meet its known differences from Windows.
if H.windows then pcall(ffi.cdef, 'const char *wine_get_version(void);') end
H.wine = H.windows and pcall(function() return ffi.load'ntdll'.wine_get_version end)

function H.skip_unless(ok, why)
  -- busted puts pending() in the environment of the test that calls us
  if not ok then getfenv(2).pending(why) end
end

-- Unix domain sockets exist here? (Windows 10 has stream ones; Wine 8 none)
function H.has_unix()
  local s, _, code = socket.unix()
  if s then s:close() return true end
  return false, code
end
H.NO_UNIX = 'no AF_UNIX sockets on this platform (Wine 8 refuses them: WSAEAFNOSUPPORT)'

-- Quotes s for a POSIX shell.
function H.shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs a shell command of the host (POSIX sh): its output (stderr too) and
-- whether it exited 0. Under Wine the host is the Linux machine: `start
-- /unix` starts its sh, but neither waits for it nor passes its output,
-- so the command runs as a script that leaves both in files, waited for
-- here (running the loop). Paths in cmd are the host's (H.hostpath).
local nsh = 0
local function wine_sh(cmd)
  nsh = nsh + 1
  local base = ('/tmp/socket2-wine-sh-%d-%d-%d'):format(os.time(), math.random(1e9), nsh)
  local f = assert(io.open(base .. '.sh', 'wb')) -- (a /path is Z:\path: the host's own)
  f:write('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH\n',
    'cd ', H.shell_quote(H.hostpath'.'), ' || exit 1\n', -- (our directory, not Wine's)
    '(', cmd, '\n) > ', base, '.out 2>&1 < /dev/null\n',
    'echo $? > ', base, '.rc.tmp; mv ', base, '.rc.tmp ', base, '.rc\n')
  f:close()
  os.execute('start /unix /bin/sh ' .. base .. '.sh')
  local t_end = socket.clock() + 60 * H.SLOW
  local rc
  repeat
    socket.sleep(0.005)
    local r = io.open(base .. '.rc')
    if r then rc = r:read'*n'; r:close() end
  until rc or socket.clock() > t_end
  local o = io.open(base .. '.out', 'rb')
  local out = o and o:read'*a' or ''
  if o then o:close() end
  for _, x in ipairs{'.sh', '.out', '.rc'} do os.remove(base .. x) end
  return out, rc == 0
end

function H.sh(cmd)
  if H.wine then return wine_sh(cmd) end
  local p = assert(io.popen(cmd .. ' 2>&1; echo "exit status $?"'))
  local out = p:read'*a'
  p:close()
  local ok = out:match'exit status (%d+)\n$' == '0'
  return (out:gsub('exit status %d+\n$', '')), ok
end

-- Can H.sh run host programs here? (POSIX: yes; Wine: if `start /unix`
-- works; Windows itself: no)
local host_ok
function H.host_shell()
  if host_ok == nil then
    host_ok = not H.windows or (H.wine and select(2, H.sh('test -x /bin/sh')) and true) or false
  end
  return host_ok
end

-- A path as the host's shell sees it: under Wine, Z:\a\b is /a/b (Wine's
-- Z: drive is the host's /; with Z: the current drive, Lua opens /a/b too).
local wine_cwd -- our directory, as the host names it
function H.hostpath(p)
  if not H.wine then return p end
  if not wine_cwd then
    pcall(ffi.cdef, 'uint32_t GetCurrentDirectoryA(uint32_t n, char *buf);')
    local buf = ffi.new'char[1024]'
    local n = ffi.C.GetCurrentDirectoryA(1024, buf)
    wine_cwd = ffi.string(buf, n):gsub('^[Zz]:', ''):gsub('\\', '/'):gsub('(.)/$', '%1')
  end
  p = p:gsub('^[Zz]:', ''):gsub('\\', '/')
  if p == '.' then return wine_cwd end
  if p:sub(1, 1) ~= '/' then p = wine_cwd .. '/' .. p:gsub('^%./', '') end
  return p
end
-- Timing bounds are multiplied by H.SLOW (SOCKET2_TEST_SLOW, set by
-- `make valgrind`); H.VALGRIND is true under valgrind.
H.SLOW = tonumber(os.getenv'SOCKET2_TEST_SLOW') or 1
H.VALGRIND = os.getenv'SOCKET2_TEST_VALGRIND' ~= nil

-- The message of the Lua error f(...) raises (it must raise one).
function H.err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, 'expected a Lua error, got success')
  return tostring(err)
end

-- Asserts that f(...) raises an error whose message matches every pattern
-- (a string or a list); returns the message.
function H.raises(patterns, f, ...)
  local msg = H.err_of(f, ...)
  if type(patterns) == 'string' then patterns = {patterns} end
  for _, p in ipairs(patterns) do
    assert(msg:find(p), ('error %q does not match %q'):format(msg, p))
  end
  return msg
end

function H.pack(...) return {n = select('#', ...), ...} end

-- Exactly n bytes from a stream socket as a string, or nil, err, code, got.
function H.recvn(s, n, expires)
  local buf = ffi.new('uint8_t[?]', math.max(n, 1))
  local got, err, code, part = s:recvall(buf, n, expires)
  if not got then return nil, err, code, part end
  return ffi.string(buf, n)
end

-- Runs the loop until pred() is true; an error after timeout seconds (10).
function H.wait_until(pred, timeout, what)
  local t0 = socket.clock()
  while not pred() do
    socket.poll(0.05)
    if socket.clock() - t0 > (timeout or 10) * H.SLOW then
      error('timed out waiting for ' .. (what or 'a condition'), 2)
    end
  end
end

-- A unique path in the temporary directory that does not exist yet.
function H.tmppath(suffix)
  if H.wine then -- (Wine's tmpname is a name in the drive's root: the host's /)
    return ('/tmp/socket2-%d-%d%s'):format(os.time(), math.random(1e9), suffix or '')
  end
  local p = os.tmpname() -- creates the file: we only want its unique name
  os.remove(p)
  return p .. (suffix or '')
end

-- A udp socket bound to loopback, port 0: socket, port.
function H.udp_bound(family)
  local u = assert(socket.udp(family))
  assert(u:bind(family == 'inet6' and '::1' or '127.0.0.1', 0))
  return u, u:getsockname():port()
end

H.leaks = leaks
return H
