-- spec/tls/tlsh.lua: what the TLS specs share (require'tls.tlsh').
--   T.skip()         nil, or why the TLS specs cannot run here
--   T.certs()        the directory of this run's certificates (made once per
--                    process by tools/tls/certs.sh into build/tls/run-*), or
--                    SOCKET2_TLS_CERTS when set
--   T.server_ctx(o), T.client_ctx(o)   contexts on those certificates
--   T.pair(sctx, cctx, [copts])        a connected ts pair: client, server
--   T.spawn(cmd) / T.alive(p) / T.stop(p) / T.output(p)   peer processes
--   T.free_port(), T.wait_port(port)
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'

local T = {}

local ok_tls, tls = pcall(require, 'socket2.tls')
T.tls = ok_tls and tls or nil

function T.skip()
  if not ok_tls then return 'socket2.tls does not load: ' .. tostring(tls) end
  local ok, msg = tls.available()
  if not ok then return 'no usable OpenSSL 3: ' .. tostring(msg) end
  if not T.certs() then return 'no test certificates: ' .. tostring(T.certs_err) end
  return nil
end

-- Can this process start Linux peer programs (openssl, python3, ...)?
T.posix = not H.windows

local function have(cmd)
  if not T.posix then return false end
  local _, ok = H.sh('command -v ' .. cmd .. ' >/dev/null')
  return ok
end
local have_cache = {}
function T.have(cmd)
  if have_cache[cmd] == nil then have_cache[cmd] = have(cmd) end
  return have_cache[cmd]
end

-- certificates ---------------------------------------------------------------

local certs_dir
function T.certs()
  if certs_dir ~= nil then return certs_dir end
  local env = os.getenv'SOCKET2_TLS_CERTS'
  if env and env ~= '' then certs_dir = env .. (env:match'[/\\]$' and '' or '/'); return certs_dir end
  local pre = H.ROOT .. '/build/tls/certs/'
  if H.windows then
    -- Wine cannot run openssl: `make test` makes them before the Windows suite
    local f = io.open(pre .. 'ca.pem')
    if f then f:close(); certs_dir = pre; return certs_dir end
    T.certs_err = 'run sh tools/tls/certs.sh build/tls/certs first'
    certs_dir = false
    return false
  end
  -- made fresh for this run, under build/ (`make clean` removes them; no
  -- finalizer removes them at exit)
  local pid = 0
  local f = io.open('/proc/self/stat')
  if f then pid = f:read'*n' or 0; f:close() end
  local root = H.ROOT
  if root:sub(1, 1) ~= '/' then root = H.sh('cd ' .. H.shell_quote(root) .. ' && pwd'):gsub('\n$', '') end
  local dir = ('%s/build/tls/run-%d-%d'):format(root, pid, os.time())
  local out, ok = H.sh('rm -rf ' .. H.shell_quote(root .. '/build/tls') .. '/run-*; sh '
    .. H.shell_quote(root .. '/tools/tls/certs.sh') .. ' ' .. H.shell_quote(dir))
  if not ok then T.certs_err = out; certs_dir = false; return false end
  certs_dir = dir .. '/'
  return certs_dir
end

function T.read(name)
  local f = assert(io.open(T.certs() .. name, 'rb'))
  local s = f:read'*a'
  f:close()
  return s
end

function T.server_ctx(o)
  o = o or {}
  local D = T.certs()
  local t = {server = true, cert = D .. (o.certname or 'chain') .. '.pem', key = D .. (o.keyname or 'server') .. '.key'}
  for k, v in pairs(o) do if k ~= 'certname' and k ~= 'keyname' then t[k] = v end end
  return assert(tls.context(t))
end

function T.client_ctx(o)
  local t = {ca = T.certs() .. 'ca.pem'}
  for k, v in pairs(o or {}) do t[k] = v end
  return assert(tls.context(t))
end

-- A client ts and a server ts over a loopback connection, handshake not
-- done yet (copts: wrap options of the client, host 'localhost' by default).
function T.raw_pair()
  return H.pair()
end

function T.pair(sctx, cctx, copts, handshake)
  local c, s = H.pair()
  copts = copts or {host = 'localhost'}
  local ct = tls.wrap(c, cctx, copts)
  local st = tls.wrap(s, sctx)
  if handshake ~= false then
    local sok, serr, scode
    local done = false
    socket.newthread(function() sok, serr, scode = st:handshake(socket.clock() + 10 * H.SLOW); done = true end)
    local cok, cerr, ccode = ct:handshake(socket.clock() + 10 * H.SLOW)
    H.wait_until(function() return done end)
    return ct, st, {cok, cerr, ccode}, {sok, serr, scode}
  end
  return ct, st
end

-- Runs f(ts) in a server thread for each of n connections on a new TLS
-- listener: port, listener, stop(). f's errors are kept in errs.
-- state.done is true once the listener closed and every handler ended.
function T.server(sctx, n, f, errs)
  local l, port = H.listener()
  local state = {active = 0, done = false}
  local function check() state.done = l:closed() and state.active == 0 end
  socket.newthread(function()
    for _ = 1, n do
      local c = l:accept()
      if not c then break end
      state.active = state.active + 1
      socket.newthread(function()
        local ts = tls.wrap(c, sctx)
        local ok, err = pcall(f, ts)
        if not ok and errs then errs[#errs + 1] = tostring(err) end
        if not ts:closed() then ts:close() end
        state.active = state.active - 1
        check()
      end)
    end
    l:close()
    check()
  end)
  return port, l, state
end

-- peer processes ---------------------------------------------------------------

-- A free TCP port on 127.0.0.1 (for a peer that cannot take port 0).
function T.free_port()
  local l, port = H.listener()
  l:close()
  return port
end

-- Waits until something listens on port (the peer started): true or false.
function T.wait_port(port, timeout)
  local t_end = socket.clock() + (timeout or 10) * H.SLOW
  while socket.clock() < t_end do
    local s = assert(socket.tcp())
    local ok = s:connect('127.0.0.1', port, socket.clock() + 1)
    s:close()
    if ok then return true end
    socket.sleep(0.05)
  end
  return false
end

-- Starts cmd (a shell command) in the background: a peer {pid, log}. Its
-- stdin is a fifo the spec may write to (T.input), else /dev/null.
function T.spawn(cmd, with_input)
  local log = H.tmppath'-tls-peer.log'
  local p = {log = log}
  local input = '/dev/null'
  if with_input then
    p.fifo = H.tmppath'-tls-peer.in'
    assert(os.execute('mkfifo ' .. H.shell_quote(p.fifo)) == 0)
    input = p.fifo
  end
  -- (a fifo opened read-write first never blocks, and keeps stdin open)
  local redir = with_input and ('3<>%s <%s'):format(H.shell_quote(input), H.shell_quote(input)) or '</dev/null'
  -- (peers run without the sanitizer runtime the ASan suite preloads)
  local out = H.sh(('(unset LD_PRELOAD; exec %s) %s > %s 2>&1 & echo $!'):format(cmd, redir, H.shell_quote(log)))
  p.pid = tonumber(out:match'(%d+)%s*$')
  assert(p.pid, 'spawn failed: ' .. out)
  return p
end

-- Writes s to the peer's stdin (a fifo).
function T.input(p, s)
  local f = assert(io.open(p.fifo, 'r+')) -- (read-write: never blocks, even when the peer is gone)
  f:write(s)
  f:close()
end

-- (a peer whose shell ended is reparented to pid 1, which may never reap
-- it here: a zombie counts as gone)
function T.alive(p)
  local f = io.open('/proc/' .. p.pid .. '/stat')
  if f then
    local st = f:read'*a'
    f:close()
    return st:match'^%d+ %b() (%a)' ~= 'Z'
  end
  local _, ok = H.sh('kill -0 ' .. p.pid)
  return ok
end

-- Waits (running the loop) until the peer exited; false on timeout.
function T.wait_exit(p, timeout)
  local t_end = socket.clock() + (timeout or 10) * H.SLOW
  while T.alive(p) do
    if socket.clock() > t_end then return false end
    socket.sleep(0.02)
  end
  return true
end

function T.output(p)
  local f = io.open(p.log, 'rb')
  if not f then return '' end
  local s = f:read'*a'
  f:close()
  return s
end

function T.stop(p)
  if not p then return end
  -- the subshell exec'd the command: the pid is the peer's own (no pkill:
  -- under the ASan suite's LD_PRELOAD, pkill hung)
  os.execute(('kill %d 2>/dev/null'):format(p.pid))
  T.wait_exit(p, 2)
  os.remove(p.log)
  if p.fifo then os.remove(p.fifo) end
end

-- Debian's python (its ssl module): never pyenv's python3 on PATH.
T.python = '/usr/bin/python3'
function T.have_python()
  if not T.posix then return false end
  local f = io.open(T.python)
  if f then f:close() return true end
  return false
end

-- A Python script in a temporary file: its path (removed by T.rm).
function T.script(src)
  local p = H.tmppath'.py'
  local f = assert(io.open(p, 'w'))
  f:write(src)
  f:close()
  return p
end

-- bytes helpers
function T.pattern(n)
  local b = ffi.new('uint8_t[?]', n)
  for i = 0, n - 1 do b[i] = (i * 7 + math.floor(i / 251)) % 256 end
  return b
end

return T
