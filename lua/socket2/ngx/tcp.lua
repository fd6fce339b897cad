-- socket2/ngx/tcp.lua: ngx.socket.tcp(), the cosocket object, on socket2,
-- with the connection pool of setkeepalive.
--
-- Semantics (lua-nginx-module README, "ngx.socket.tcp" to
-- "tcpsock:getreusedtimes", and src/ngx_http_lua_socket_tcp.c):
-- - The object is reusable: connect() closes what it had (or takes an idle
--   connection of its pool), close() and setkeepalive() leave it closed;
--   every call on a closed object returns nil, 'closed'.
-- - Errors are returned, never raised: nil, err ('timeout', 'closed',
--   'connection refused', ...), with the partial data as a third value for
--   reads. Every error but a read timeout is fatal: it closes the
--   connection. Misuse (a bad pattern, a bad argument type) raises.
-- - Timeouts are milliseconds (settimeout, settimeouts); 0 and what is no
--   number (a table, nil) restore the defaults (conf), a negative number or
--   one of 2^31 and more raises 'bad timeout value'. A
--   read or connect timeout bounds each wait for the peer (nginx arms its
--   timer per wait); a send timeout bounds the whole send.
-- - One reader and one writer at a time: a second one gets nil,
--   'socket busy reading' (or writing).
-- - The pool (setkeepalive): one per key ("host:port", the unix path, or
--   opts.pool), at most its size of idle connections, least recently used
--   evicted; an idle connection that turns readable (the peer closed it,
--   or sent something unasked) or outlives its idle timeout is closed and
--   dropped by a watcher thread; opts.backlog limits the connections of a
--   pool to its size and queues the connects above it.
local ffi = require'ffi'
local socket = require'socket2'
local rbuf = require'socket2.compat.rbuf'
local event = require'socket2.compat.event'
local conf = require'socket2.ngx.conf'

local type, tonumber, tostring, select, error = type, tonumber, tostring, select, error
local floor, ceil = math.floor, math.ceil
local concat = table.concat
local rb_line, rb_bytes, rb_all, rb_some, rb_until = rbuf.line, rbuf.bytes, rbuf.all, rbuf.some, rbuf.until_

local M = {}
local tcp = {}
tcp.__index = tcp
M.methods = tcp

-- a method called on a cosocket (not with . instead of :)
local function check(self, fname)
  if getmetatable(self) ~= tcp then
    error(('bad argument #0 to \'%s\' (cosocket expected; did you call it with . instead of :?)'):format(fname), 3)
  end
end

-- send data ----------------------------------------------------------------

-- string, number, boolean, nil, or a (nested) array of strings and numbers
-- -> the bytes (lua-nginx-module's send: strict mode for tables).
local function flatten_into(t, acc, n, fname)
  for i = 1, #t do
    local v = t[i]
    local tv = type(v)
    if tv == 'string' then n = n + 1; acc[n] = v
    elseif tv == 'number' then n = n + 1; acc[n] = tostring(v)
    elseif tv == 'table' then n = flatten_into(v, acc, n, fname)
    else error(('bad argument #1 to \'%s\' (bad data type %s found)'):format(fname, tv), 4) end
  end
  return n
end

local function data_string(data, fname)
  local td = type(data)
  if td == 'string' then return data end
  if td == 'table' then
    -- the common case (nginx.redis: an array of strings and numbers) in one concat
    local flat = true
    for i = 1, #data do
      local tv = type(data[i])
      if tv ~= 'string' and tv ~= 'number' then flat = false; break end
    end
    if flat then return concat(data) end
    local acc = {}
    local n = flatten_into(data, acc, 0, fname)
    return concat(acc, '', 1, n)
  end
  if td == 'number' or td == 'boolean' or td == 'nil' then return tostring(data) end
  error(('bad argument #1 to \'%s\' (string, number, boolean, nil, or array table expected, got %s)')
    :format(fname, td), 3)
end
M.data_string = data_string

-- timeouts -------------------------------------------------------------------

-- A timeout argument -> seconds, or false for the default. lua_tonumber
-- semantics: numbers and numeric strings; anything else is 0.
local function ms_arg(v)
  local t = tonumber(v) or 0
  t = t >= 0 and floor(t) or ceil(t)
  if t < 0 or t >= 2147483648 then error('bad timeout value', 3) end
  if t == 0 then return false end
  return t / 1000
end

local function ctimeout(self) return self.ct or conf.connect_timeout / 1000 end
local function stimeout(self) return self.st or conf.send_timeout / 1000 end
local function rtimeout(self) return self.rt or conf.read_timeout / 1000 end

function tcp:settimeout(...)
  check(self, 'settimeout')
  local n = select('#', ...)
  if n ~= 1 then
    error(('ngx.socket settimeout: expecting 2 arguments (including the object) but seen %d'):format(n + 1), 2)
  end
  local t = ms_arg((...))
  self.ct, self.st, self.rt = t, t, t
end

function tcp:settimeouts(...)
  check(self, 'settimeouts')
  local n = select('#', ...)
  if n ~= 3 then
    error(('ngx.socket settimeouts: expecting 4 arguments (including the object) but seen %d'):format(n + 1), 2)
  end
  local c, s, r = ...
  self.ct, self.st, self.rt = ms_arg(c), ms_arg(s), ms_arg(r)
end

-- state ----------------------------------------------------------------------

-- Is a direction of the socket in use by a call? (socket2 raises on a
-- second reader or writer; the cosocket answers instead. socket2 has no
-- public query for it: its wait records' busy flag is read.)
local function busy(s, dir)
  local rec = dir == 'r' and s._rrec or s._wrec
  if rec then return rec.busy end
  if dir == 'r' then return s.rbusy == true end -- a socket2.tls socket
  return s.wbusy == true
end

local pools = {}  -- key -> pool
M.pools = pools

local function pool_release(pool)
  -- a connection of the pool ended: a queued connect may go on
  pool.conns = pool.conns - 1
  local q = pool.queue
  if q[1] then table.remove(q, 1):signal(true) end
end

-- Closes the connection (the object stays, closed).
local function shut(self)
  local s = self.s
  if not s then return end
  self.s, self.raw, self.ssl = false, false, false
  s:close()
  local pool = self.pool
  if pool then self.pool = false; pool_release(pool) end
end

M.shut = shut

-- A failed call: every error but a read timeout closes the connection.
local function fatal(self, err)
  if err ~= 'timeout' then shut(self) end
end

-- nginx's strings for socket2's failures
local function errstr(err, code)
  if code == 'EOF' or code == 'ECANCELED' then return 'closed' end
  return err
end

-- pool -------------------------------------------------------------------------

local function new_pool(key, size, backlog)
  local p = {key = key, size = size, backlog = backlog, items = {}, conns = 0, queue = {}}
  pools[key] = p
  return p
end

-- The watcher of an idle connection: it ends (and the connection with it)
-- when the socket turns readable (EOF, an error, unasked data) or its idle
-- timeout passes. Taking the connection kills the watcher first.
local function drop(pool, item)
  local items = pool.items
  for i = #items, 1, -1 do
    if items[i] == item then table.remove(items, i); break end
  end
  item.s:close()
  pool_release(pool)
end

local function watch(pool, item)
  item.s:wait('r', item.timeout) -- (nil: no idle timeout)
  item.watcher = false
  drop(pool, item)
end

local function take(pool)
  local items = pool.items
  local item = items[#items]
  if not item then return nil end
  items[#items] = nil
  if item.watcher then socket.kill(item.watcher); item.watcher = false end
  return item
end

-- Closes every idle connection of every pool (or of one key).
function M.pool_clear(key)
  for k, pool in pairs(pools) do
    if key == nil or k == key then
      while pool.items[1] do
        local item = take(pool)
        item.s:close()
        pool_release(pool)
      end
      pools[k] = nil -- (made again, with its size, by the next connect or setkeepalive)
    end
  end
end

-- connect ----------------------------------------------------------------------

local function resolve_error(host, err, code)
  if code and code:match'^EAI_' then
    if code == 'EAI_NONAME' then return host .. ' could not be resolved (3: Host not found)' end
    return ('%s could not be resolved (2: %s)'):format(host, err)
  end
  return errstr(err, code)
end

-- A new connection to host:port (or the unix path): the socket, or nil, err.
local function open(self, host, port, path)
  -- a deadline, not a duration: socket2's name lookups (socket.connect,
  -- socket.addr) take a duration for a deadline (addr.lua's off_thread)
  local t = socket.clock() + ctimeout(self)
  if path then
    local s, err, code = socket.unix()
    if not s then return nil, errstr(err, code) end
    local ok
    ok, err, code = s:connect(path, t)
    if not ok then s:close(); return nil, errstr(err, code) end
    return s
  end
  local bind = self.bind_host
  if not bind then
    local s, err, code = socket.connect(host, port, t)
    if not s then return nil, resolve_error(host, err, code) end
    return s
  end
  -- bound first: the local address picks the family
  local ai, err, code = socket.addr(host, port, 'tcp', bind:find(':', 1, true) and 'inet6' or 'inet', nil, nil, t)
  if not ai then return nil, resolve_error(host, err, code) end
  local s
  s, err, code = socket.tcp(ai:family())
  if not s then return nil, errstr(err, code) end
  local ok
  ok, err, code = s:bind(bind, self.bind_port or 0)
  if ok then ok, err, code = s:connect(ai, t) end
  if not ok then s:close(); return nil, errstr(err, code) end
  return s
end

-- connect(host, port, [opts]) | connect('unix:/path', [opts]) -> 1 | nil, err
function tcp:connect(host, port, opts, ...)
  check(self, 'connect')
  local nargs = select('#', ...) + 3
  if type(host) ~= 'string' then
    error(('bad argument #1 to \'connect\' (string expected, got %s)'):format(type(host)), 2)
  end
  local path
  if host:sub(1, 5) == 'unix:' then
    path = host:sub(6)
    if type(opts) == 'nil' and nargs <= 3 then opts = port end
    port = nil
  else
    local p = tonumber(port)
    if not p then
      error(('bad argument #2 to \'connect\' (number expected, got %s)'):format(type(port)), 2)
    end
    if p < 0 or p > 65535 or p ~= floor(p) then
      return nil, 'bad port number: ' .. tostring(port)
    end
    port = p
  end
  if type(opts) ~= 'nil' and type(opts) ~= 'table' then -- (a NULL cdata == nil: refused too)
    error(('bad argument #%d to \'connect\' (table expected, got %s)'):format(path and 2 or 3, type(opts)), 2)
  end
  if host:find('\0', 1, true) then return nil, host .. ' could not be resolved (3: Host not found)' end
  if self.s then shut(self) end
  self.ssl = false
  local key = opts and opts.pool or (path and host or host .. ':' .. port)
  if type(key) ~= 'string' then key = tostring(key) end
  local pool = pools[key]
  if not pool and opts and (opts.pool_size or opts.backlog) then
    local size = opts.pool_size or conf.pool_size
    if type(size) ~= 'number' or size <= 0 then
      error(('bad "pool_size" option value: %s'):format(tostring(opts.pool_size)), 2)
    end
    local backlog = opts.backlog
    if backlog ~= nil and (type(backlog) ~= 'number' or backlog < 0) then
      error(('bad "backlog" option value: %s'):format(tostring(backlog)), 2)
    end
    pool = new_pool(key, size, backlog)
  end
  while true do
    local item = pool and take(pool)
    if item then
      self.s, self.raw, self.ssl = item.s, item.raw, item.ssl
      self.reused, self.key, self.pool, self.host = item.reused + 1, key, pool, path or host
      rbuf.reset(self.rb)
      return 1
    end
    if not (pool and pool.backlog and pool.conns >= pool.size) then break end
    -- the pool has all its connections: wait for one to end or come back
    if #pool.queue >= pool.backlog then return nil, 'too many waiting connect operations' end
    local ev = event.new()
    local q = pool.queue
    q[#q + 1] = ev
    local ok = ev:wait(ctimeout(self))
    if not ok then
      for i = #q, 1, -1 do if q[i] == ev then table.remove(q, i) end end
      return nil, 'timeout'
    end
  end
  if pool then pool.conns = pool.conns + 1 end -- (counted while it opens: backlog)
  local s, err = open(self, host, port, path)
  if not s then
    if pool then pool_release(pool) end
    return nil, err
  end
  self.s, self.reused, self.key, self.pool, self.host = s, 0, key, pool or false, path or host
  rbuf.reset(self.rb)
  return 1
end

-- bind(address, [port]): the local address of the next connect.
function tcp:bind(addr, port)
  check(self, 'bind')
  if type(addr) ~= 'string' then
    error(('bad argument #1 to \'bind\' (string expected, got %s)'):format(type(addr)), 2)
  end
  self.bind_host, self.bind_port = addr, tonumber(port)
  return 1
end

-- sending ----------------------------------------------------------------------

function tcp:send(data)
  check(self, 'send')
  local s = self.s
  if not s then return nil, 'closed' end
  if busy(s, 'w') then return nil, 'socket busy writing' end
  local str = data_string(data, 'send')
  local len = #str
  if len == 0 then return 0 end
  local n, err, code = s:sendall(str, len, stimeout(self))
  if not n then
    shut(self) -- (a send timeout is fatal too)
    return nil, errstr(err, code)
  end
  return len
end

-- receiving -------------------------------------------------------------------

local function read_failed(self, err, part, code)
  err = errstr(err, code)
  fatal(self, err)
  return nil, err, part
end

-- receive([pattern | size]) -> data, or nil, err, partial
function tcp:receive(...)
  check(self, 'receive')
  local nargs = select('#', ...)
  if nargs > 1 then
    error(('ngx.socket receive: expecting 1 or 2 arguments (including the object), but got %d'):format(nargs + 1), 2)
  end
  local s = self.s
  if not s then return nil, 'closed' end
  local pat = ...
  if busy(s, 'r') then return nil, 'socket busy reading' end
  local t = rtimeout(self)
  local data, err, part, code
  local n = tonumber(pat)
  if n then
    n = n >= 0 and floor(n) or ceil(n)
    if not (n >= 0 and n < 2147483648) then error('bad argument #1 to \'receive\' (bad number argument)', 2) end
    if n == 0 then return '' end
    data, err, part, code = rb_bytes(self.rb, s, n, t)
  elseif pat == nil or pat == '*l' then
    data, err, part, code = rb_line(self.rb, s, t)
  elseif pat == '*a' then
    data, err, part, code = rb_all(self.rb, s, t)
  else
    error(('bad argument #1 to \'receive\' (bad pattern argument: %s)'):format(tostring(pat)), 2)
  end
  if data then return data end
  return read_failed(self, err, part, code)
end

-- receiveany(max) -> data (at most max bytes), or nil, err
function tcp:receiveany(max)
  check(self, 'receiveany')
  local n = tonumber(max)
  -- luacheck: ignore 581 (NaN fails it too)
  if not n or not (n > 0) then error('bad argument #1 to \'receiveany\' (bad max argument)', 2) end
  if n > 2147483647 then n = 2147483647 end
  local s = self.s
  if not s then return nil, 'closed' end
  if busy(s, 'r') then return nil, 'socket busy reading' end
  local data, err, _, code = rb_some(self.rb, s, floor(n), rtimeout(self))
  if data then return data end
  err = errstr(err, code)
  fatal(self, err)
  return nil, err
end

-- receiveuntil(pattern, [{inclusive = bool}]) -> iterator([size])
function tcp:receiveuntil(pat, opts)
  check(self, 'receiveuntil')
  if type(pat) ~= 'string' then
    if type(pat) == 'number' then pat = tostring(pat)
    else error(('bad argument #1 to \'receiveuntil\' (string expected, got %s)'):format(type(pat)), 2) end
  end
  if #pat == 0 then return nil, 'pattern is empty' end
  local inclusive = false
  if opts ~= nil then
    if type(opts) ~= 'table' then
      error(('bad argument #2 to \'receiveuntil\' (table expected, got %s)'):format(type(opts)), 2)
    end
    local inc = opts.inclusive
    if inc ~= nil and type(inc) ~= 'boolean' then
      error(('bad "inclusive" option value type: %s'):format(type(inc)), 2)
    end
    inclusive = inc or false
  end
  local st = {pat = pat, inclusive = inclusive, done = false}
  return function(size)
    if size ~= nil then
      size = tonumber(size)
      if not size or size ~= size then error('bad argument #1 to \'receiveuntil\' iterator (number expected)', 2) end
      size = floor(size)
      if size < 0 then size = 0 end
      if size > 2147483647 then size = 2147483647 end
      if size == 0 then size = nil end
    end
    local s = self.s
    if not s then return nil, 'closed' end
    if busy(s, 'r') then return nil, 'socket busy reading' end
    local data, err, part, code = rb_until(self.rb, s, st, size, rtimeout(self))
    if data or not err then return data, err end
    return read_failed(self, err, part, code)
  end
end

-- the rest ---------------------------------------------------------------------

function tcp:close()
  check(self, 'close')
  if not self.s then return nil, 'closed' end
  shut(self)
  return 1
end

function tcp:getreusedtimes()
  check(self, 'getreusedtimes')
  if not self.s then return nil, 'closed' end
  return self.reused
end

-- setkeepalive([timeout_ms], [size]) -> 1 | nil, err; the object is closed
-- afterwards (its connection is in the pool)
local peekbuf = ffi.new'uint8_t[1]'
function tcp:setkeepalive(timeout, size)
  check(self, 'setkeepalive')
  if type(timeout) ~= 'nil' and (type(timeout) ~= 'number' or timeout ~= timeout) then
    error(('bad argument #1 to \'setkeepalive\' (number expected, got %s)'):format(type(timeout)), 2)
  end
  if type(size) ~= 'nil' and (type(size) ~= 'number' or not (size >= 1)) then -- luacheck: ignore 581 (NaN fails it too)
    error(('bad argument #2 to \'setkeepalive\' (bad "pool_size" option value: %s)'):format(tostring(size)), 2)
  end
  local s = self.s
  if not s or self.rb.eof then return nil, 'closed' end
  if busy(s, 'r') then return nil, 'socket busy reading' end
  if busy(s, 'w') then return nil, 'socket busy writing' end
  if rbuf.buffered(self.rb) > 0 then return nil, 'unread data in buffer' end
  -- readable now (EOF, or data nobody asked for): not reusable
  local raw = self.raw or s
  local blocking = raw:getblocking()
  raw:setblocking(false)
  local n, _, code = raw:recv(peekbuf, 1, nil, 'peek')
  raw:setblocking(blocking)
  if n or code ~= 'EAGAIN' then
    shut(self)
    return nil, 'connection in dubious state'
  end
  local key = self.key
  local pool = self.pool or pools[key]
  if not pool then
    size = size or conf.pool_size
    if size <= 0 then error(('bad "pool_size" option value: %d'):format(size), 2) end
    pool = new_pool(key, floor(size), nil)
  end
  if not self.pool then pool.conns = pool.conns + 1 end -- (counted from now on)
  local items = pool.items
  if #items >= pool.size then -- the least recently used one makes room
    local old = table.remove(items, 1)
    if old.watcher then socket.kill(old.watcher) end
    old.s:close()
    pool_release(pool)
  end
  timeout = timeout or conf.keepalive_timeout
  -- (0, negative: no idle timeout; beyond 31 years: none either)
  local idle = timeout > 0 and timeout / 1000 or nil
  if idle and idle > 1e9 then idle = nil end
  local item = {s = s, raw = self.raw, reused = self.reused, ssl = self.ssl, watcher = false, timeout = idle}
  items[#items + 1] = item
  self.s, self.raw, self.ssl, self.pool = false, false, false, false
  item.watcher = socket.newthread(watch, pool, item)
  local q = pool.queue
  if q[1] then table.remove(q, 1):signal(true) end
  return 1
end

-- setoption(name, value) -> true | nil, err
local OPTS = {keepalive = 'keepalive', reuseaddr = 'reuseaddr', ['tcp-nodelay'] = 'nodelay',
              sndbuf = 'sndbuf', rcvbuf = 'rcvbuf'}
function tcp:setoption(name, value)
  check(self, 'setoption')
  local opt = OPTS[name]
  if not opt then return nil, 'unsupported option ' .. tostring(name) end
  local s = self.raw or self.s
  if not s then return nil, 'closed' end
  local v
  if opt == 'sndbuf' or opt == 'rcvbuf' then
    v = tonumber(value)
    if not v or not (v >= 0 and v <= 2147483647) then return nil, 'bad option value' end
    v = floor(v)
  else
    v = value == true or (type(value) == 'number' and value ~= 0)
  end
  local ok, err = s:setopt(opt, v)
  if not ok then return nil, err end
  return true
end

function tcp:getoption(name)
  check(self, 'getoption')
  local opt = OPTS[name]
  if not opt then return nil, 'unsupported option ' .. tostring(name) end
  local s = self.raw or self.s
  if not s then return nil, 'closed' end
  return s:getopt(opt)
end

function tcp:getfd()
  check(self, 'getfd')
  local s = self.raw or self.s
  if not s then return nil, 'closed' end
  return s:fileno()
end

-- sslhandshake([reused_session], [server_name], [ssl_verify], [send_status_req])
function tcp:sslhandshake(...)
  check(self, 'sslhandshake')
  return require'socket2.ngx.ssl'.handshake(self, ...)
end

-- ngx.socket.tcp()
function M.new()
  return setmetatable({s = false, raw = false, rb = rbuf.new(conf.buffer_size), ct = false, st = false, rt = false,
                       reused = 0, key = false, pool = false, ssl = false, host = false,
                       bind_host = false, bind_port = false},
                      tcp)
end

-- ngx.socket.connect(host, port) | (path): a connected cosocket, or nil, err
function M.connect(...)
  local sock = M.new()
  local ok, err = sock:connect(...)
  if not ok then return nil, err end
  return sock
end

return M
