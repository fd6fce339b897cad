-- spec/compat/servers.lua: the real servers of the compat specs: each is
-- started on 127.0.0.1 at a port free at run time, in a directory of its
-- own with a pid file (tools/compat/server.sh), and stopped by that pid.
-- A server that cannot start gives the reason instead, for pending().
local socket = require'socket2'
local H = require'helpers'

local S = {}

S.ROOT = H.ROOT
-- where tools/compat/debs.sh unpacks the OpenResty libraries apt must not install
S.LIBS = H.ROOT .. '/build/compat/usr/share/lua/5.1'

-- Debian's extracted nginx.* libraries on package.path (once)
function S.use_libs()
  local p = S.LIBS .. '/?.lua;'
  if not package.path:find(p, 1, true) then package.path = p .. package.path end
end

-- Is library `name` (nginx.redis...) there? true, or false and why
function S.have_lib(name)
  S.use_libs()
  if package.searchpath(name, package.path) then return true end
  return false, name .. ' is not there (make test unpacks it: tools/compat/debs.sh build/compat)'
end

-- Can this platform start the Linux servers?
function S.can_start()
  if H.windows then
    return false, 'needs Linux servers (redis-server, memcached, dnsmasq, websocketd, python), which the'
      .. ' Windows bench (Wine) cannot start'
  end
  return true
end

-- A port free for tcp and udp on 127.0.0.1 now.
function S.free_port()
  for _ = 1, 20 do
    local t = assert(socket.tcp())
    assert(t:bind('127.0.0.1', 0))
    local port = t:getsockname():port()
    local u = assert(socket.udp())
    local ok = u:bind('127.0.0.1', port)
    u:close(); t:close()
    if ok then return port end
  end
  error('no free port')
end

-- Starts server `name` (see tools/compat/server.sh): {name, port, dir}, or
-- nil, why. It accepts tcp connections when this returns.
function S.start(name, arg)
  local ok, why = S.can_start()
  if not ok then return nil, why end
  local port = S.free_port()
  local dir = H.tmppath('-s2' .. name)
  local out, started = H.sh(('sh %s/tools/compat/server.sh start %s %s %d %s'):format(
    H.shell_quote(S.ROOT), name, H.shell_quote(dir), port, arg and H.shell_quote(arg) or ''))
  if not started then
    H.sh('sh ' .. H.shell_quote(S.ROOT) .. '/tools/compat/server.sh stop ' .. H.shell_quote(dir))
    return nil, name .. ' could not start: ' .. out:gsub('%s+$', '')
  end
  local srv = {name = name, port = port, dir = dir}
  local deadline = socket.clock() + 10 * H.SLOW
  while true do
    local c = socket.connect('127.0.0.1', port, 1)
    if c then c:close(); break end
    if socket.clock() > deadline then
      local log = io.open(dir .. '/log') and io.open(dir .. '/log'):read'*a' or ''
      S.stop(srv)
      return nil, name .. ' does not accept connections on port ' .. port .. ': ' .. log
    end
    socket.sleep(0.02)
  end
  return srv
end

function S.stop(srv)
  if srv then H.sh('sh ' .. H.shell_quote(S.ROOT) .. '/tools/compat/server.sh stop ' .. H.shell_quote(srv.dir)) end
end

-- The test certificates (tools/tls/certs.sh: ca.pem, server.pem for
-- localhost and 127.0.0.1, ...): the directory `make test` made
-- (build/tls/certs), else one made now. dir, or nil, why.
local certs_dir
function S.certs()
  if certs_dir then return certs_dir end
  local made = S.ROOT .. '/build/tls/certs'
  local f = io.open(made .. '/server.pem')
  if f then f:close(); certs_dir = made; return made end
  local dir = S.ROOT .. '/build/compat/certs'
  local out, ok = H.sh('sh ' .. H.shell_quote(S.ROOT .. '/tools/tls/certs.sh') .. ' ' .. H.shell_quote(dir))
  if not ok then return nil, 'tools/tls/certs.sh failed: ' .. out end
  certs_dir = dir
  return dir
end

-- The text of a file in the server's directory ('' when missing).
function S.file(srv, name)
  local f = io.open(srv.dir .. '/' .. name)
  if not f then return '' end
  local s = f:read'*a'
  f:close()
  return s
end

-- after_each of the compat specs: the idle pools closed, what the
-- libraries left for the GC collected (cosockets close at the end of an
-- nginx request; here the GC closes them), then no leak.
function S.clean()
  local ngx = package.loaded['socket2.ngx']
  if ngx then ngx.socket2.pool_clear() end
  collectgarbage(); collectgarbage()
  socket.poll(0)
  H.no_leaks()
end

return S
