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

-- Runs a shell command: its output (stderr too) and whether it exited 0.
function H.sh(cmd)
  local p = assert(io.popen(cmd .. ' 2>&1; echo "exit status $?"'))
  local out = p:read'*a'
  p:close()
  local ok = out:match'exit status (%d+)\n$' == '0'
  return (out:gsub('exit status %d+\n$', '')), ok
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
