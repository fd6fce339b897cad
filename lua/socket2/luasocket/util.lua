-- socket2/luasocket/util.lua: what the LuaSocket objects share: error
-- messages as LuaSocket words them, timeouts, class checks.
local socket = require'socket2'

local M = {}

-- Every LuaSocket object of this core (weakly): socket.select finds the
-- socket2 socket behind a descriptor that an object with only getfd()
-- (a socket.lua source or sink) names.
M.objects = setmetatable({}, {__mode = 'k'})

-- socket2's codes -> LuaSocket's messages (src/pierror.h, io.c: the
-- strings LuaSocket returns; a peer that reset or closed is 'closed')
local MSG = {
  ETIMEDOUT = 'timeout', EAGAIN = 'timeout', EINPROGRESS = 'timeout', EALREADY = 'timeout',
  EOF = 'closed', ECANCELED = 'closed', ECONNRESET = 'closed', ECONNABORTED = 'closed', EPIPE = 'closed',
  EISCONN = 'already connected', EADDRINUSE = 'address already in use', EACCES = 'permission denied',
  ECONNREFUSED = 'connection refused',
  EAI_AGAIN = 'temporary failure in name resolution', EAI_BADFLAGS = 'invalid value for ai_flags',
  EAI_FAIL = 'non-recoverable failure in name resolution', EAI_FAMILY = 'ai_family not supported',
  EAI_MEMORY = 'memory allocation failure', EAI_NONAME = 'host or service not provided, or not known',
  EAI_SERVICE = 'service not supported for socket type', EAI_SOCKTYPE = 'ai_socktype not supported',
}
function M.msg(err, code) return MSG[code] or err end

-- The time argument of a call under settimeout(block, 'b') and
-- settimeout(total, 't'): both count from the call's start in LuaSocket
-- (timeout.c), so the smaller one bounds the call. nil: no limit; 0: the
-- call must not wait (the socket is in non-blocking mode then).
function M.limit(o)
  local b, t = o.block, o.total
  local d
  if b >= 0 then d = b end
  if t >= 0 and (d == nil or t < d) then d = t end
  return d
end

function M.deadline(o)
  local d = M.limit(o)
  if d == nil or d == 0 then return nil end
  return socket.clock() + d
end

-- settimeout(value, [mode]) on a LuaSocket object o
function M.settimeout(o, t, mode)
  if type(t) ~= 'nil' and type(t) ~= 'number' then
    t = type(t) == 'string' and tonumber(t) or nil
    if not t then error('bad argument #1 to \'settimeout\' (number expected)', 3) end
  end
  if type(t) == 'nil' or t ~= t then t = -1 end
  if type(mode) == 'nil' then mode = 'b' end
  if type(mode) ~= 'string' then error('bad argument #2 to \'settimeout\' (string expected)', 3) end
  local m = mode:sub(1, 1)
  if m == 'b' then o.block = t
  elseif m == 't' or m == 'r' then o.total = t
  else error('bad argument #2 to \'settimeout\' (invalid timeout mode)', 3) end
  local s = o.s
  if s and s.setblocking then s:setblocking(M.limit(o) ~= 0) end -- (a socket2.tls socket has none)
  return 1
end

function M.gettimeout(o)
  M.check(o, 'gettimeout')
  return o.block, o.total
end

-- A host (no NUL inside) and a port (an integer 0..65535, a numeric string,
-- or a service name): true, or nil and LuaSocket's message.
function M.hostport(host, port)
  if type(host) == 'string' and host:find('\0', 1, true) then
    return nil, 'host or service not provided, or not known'
  end
  if port ~= nil then
    local n = tonumber(port)
    if n and not (n >= 0 and n <= 65535 and n == math.floor(n)) then
      return nil, 'service not supported for socket type'
    end
    if not n and type(port) == 'string' and (port:find('\0', 1, true) or port == '') then
      return nil, 'service not supported for socket type'
    end
  end
  return true
end

-- The class name of o ('tcp{client}') and a check that a method is called
-- on the right class (LuaSocket's auxiliar_checkclass messages).
function M.classname(o) return o.kind .. '{' .. o.cls .. '}' end

function M.check(o, fname, ...)
  if not M.objects[o] then
    error(('bad argument #1 to \'%s\' (socket expected, got %s)'):format(fname, type(o)), 3)
  end
  local n = select('#', ...)
  if n == 0 then return end
  for i = 1, n do if o.cls == select(i, ...) then return end end
  error(('bad argument #1 to \'%s\' (%s{%s} expected, got %s)'):format(fname, o.kind, (...), M.classname(o)), 3)
end

-- setoption/getoption for a table of LuaSocket option name -> {socket2
-- option name, kind ('bool', 'int', 'linger', 'error': read-only)}, added
-- to methods. A value is checked when set; set before the object has a
-- descriptor, it is kept in o.opts. Returns adopt(o, s): o takes its new
-- socket s (non-blocking when o's timeout is 0) and the kept options.
function M.option_methods(methods, OPTS)
  local floor = math.floor
  local function value_of(o, value)
    if o[2] == 'bool' then return not not value end
    if o[2] == 'int' then
      local v = tonumber(value)
      if not v then error(('bad argument #2 to \'setoption\' (number expected, got %s)'):format(type(value)), 3) end
      return floor(v)
    end
    if type(value) ~= 'table' then error('bad argument #2 to \'setoption\' (table expected)', 3) end
    return value.on and floor(tonumber(value.timeout) or 0) or false -- linger
  end

  local function apply(s, name, v)
    local ok, err, code = s:setopt(OPTS[name][1], v)
    if not ok then return nil, M.msg(err, code) end
    return 1
  end

  function methods:setoption(name, value)
    M.check(self, 'setoption')
    local o = OPTS[name]
    if not o or o[2] == 'error' then
      error(('bad argument #1 to \'setoption\' (unsupported option `%s\')'):format(tostring(name)), 2)
    end
    local v = value_of(o, value)
    if not self.s then -- no descriptor yet (before connect/bind): later
      self.opts = self.opts or {}
      self.opts[#self.opts + 1] = {name, v}
      return 1
    end
    return apply(self.s, name, v)
  end

  function methods:getoption(name)
    M.check(self, 'getoption')
    local o = OPTS[name]
    if not o then error(('bad argument #1 to \'getoption\' (unsupported option `%s\')'):format(tostring(name)), 2) end
    local s = self.s
    if not s then return nil, 'closed' end
    if o[2] == 'error' then
      local m, code = s:getopt('error')
      if not m then return nil end
      return M.msg(m, code)
    end
    local v, err, code = s:getopt(o[1])
    if v == nil then return nil, M.msg(err, code) end
    if o[2] == 'linger' then return {on = v ~= false, timeout = v or 0} end
    return v
  end

  return function(o, s)
    o.s = s
    if M.limit(o) == 0 then s:setblocking(false) end
    local opts = o.opts
    if opts then
      o.opts = false
      for i = 1, #opts do apply(s, opts[i][1], opts[i][2]) end
    end
  end
end

-- The descriptor methods tcp and udp objects share, added to methods.
function M.fd_methods(methods)
  function methods:getfamily()
    M.check(self, 'getfamily')
    if self.family == 'inet6' then return 'inet6' end
    return 'inet4'
  end

  function methods:getfd()
    M.check(self, 'getfd')
    if not self.s then return -1 end
    return self.s:fileno()
  end

  -- setfd(fd): -1 detaches the descriptor (LuaSec's ssl.wrap takes it
  -- over); another number adopts that descriptor
  function methods:setfd(fd)
    M.check(self, 'setfd')
    fd = tonumber(fd)
    if not fd or not (fd >= -1 and fd <= 2147483647) or fd ~= math.floor(fd) then
      error('bad argument #1 to \'setfd\' (a descriptor number expected)', 2)
    end
    if self.s then self.s:release(); self.s = false end
    if fd >= 0 then
      local s, err, code = socket.wrap(fd)
      if not s then return nil, M.msg(err, code) end
      self.s = s
    end
  end
end

-- ip, port of an sa (socket2 sockaddr)
function M.ipport(sa) return sa:ip(), sa:port() end

return M
