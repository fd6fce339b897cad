-- spec/helpers.lua: loaded before every spec file (see .busted).
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

-- Every spec file's outer describe calls after_each(H.no_leaks): the test
-- that leaked fails, and what it left is cleaned so the next starts clean.
function H.no_leaks()
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

-- Timing bounds are multiplied by H.SLOW (SOCKET2_TEST_SLOW, set by
-- `make valgrind`); H.VALGRIND is true under valgrind.
H.SLOW = tonumber(os.getenv'SOCKET2_TEST_SLOW') or 1
H.VALGRIND = os.getenv'SOCKET2_TEST_VALGRIND' ~= nil

H.leaks = leaks
return H
