-- socket2/luasocket/tcp.lua: LuaSocket's tcp objects (socket.tcp, tcp4,
-- tcp6, socket.connect) and unix stream objects (socket.unix) on socket2.
--
-- The contract is LuaSocket 3.1.0's (docs/tcp.html, src/tcp.c, buffer.c,
-- timeout.c, inet.c): a master object (fresh) becomes a client (connect)
-- or a server (listen); a method of the wrong class raises "bad argument
-- #1 to 'receive' (tcp{client} expected, got tcp{master})". Failures are
-- nil, err with LuaSocket's words ('timeout', 'closed', 'connection
-- refused', ...); receive returns the partial data third and send the
-- index of the last byte sent. settimeout(t, 'b'|'t'): both bound a call
-- from its start (as in timeout.c); nil or negative: no limit; 0: the call
-- never waits ('timeout' when it would have to). Inside a socket2 thread a
-- call that waits parks that thread; outside one it runs the loop.
local socket = require'socket2'
local rbuf = require'socket2.compat.rbuf'
local U = require'socket2.luasocket.util'

local type, tostring, tonumber, error = type, tostring, tonumber, error
local floor = math.floor
local msg, deadline, limit, check = U.msg, U.deadline, U.limit, U.check

local WINDOWS = require'ffi'.os == 'Windows'

local M = {}
local methods = {}
local mt = {__index = methods}
M.methods = methods

local ids = 0
function mt.__tostring(o) return ('%s: 0x%08x'):format(U.classname(o), o.id) end

local function new(kind, family, s, cls)
  ids = ids + 1
  local o = setmetatable({kind = kind, family = family, cls = cls or 'master', s = s or false, id = ids,
    rb = rbuf.new(8192), block = -1, total = -1, opts = false, received = 0, sent = 0,
    birth = socket.clock()}, mt)
  U.objects[o] = true
  return o
end
M.new = new

-- options --------------------------------------------------------------------

-- LuaSocket option name -> socket2 option name, value kind
local OPTS = {
  keepalive = {'keepalive', 'bool'}, reuseaddr = {'reuseaddr', 'bool'}, reuseport = {'reuseport', 'bool'},
  ['tcp-nodelay'] = {'nodelay', 'bool'}, ['tcp-keepidle'] = {'keepidle', 'int'},
  ['tcp-keepcnt'] = {'keepcnt', 'int'}, ['tcp-keepintvl'] = {'keepintvl', 'int'},
  ['ipv6-v6only'] = {'v6only', 'bool'}, linger = {'linger', 'linger'},
  ['recv-buffer-size'] = {'rcvbuf', 'int'}, ['send-buffer-size'] = {'sndbuf', 'int'},
  ['tcp-fastopen'] = {'fastopen', 'int'}, error = {'error', 'error'},
}

local adopt = U.option_methods(methods, OPTS)

-- The descriptor, made now (family 'inet' or 'inet6'; unix objects: unix):
-- options set before apply now.
local function ensure(self, family)
  if self.s then return self.s end
  local s, err, code
  if self.kind == 'unixstream' then
    s, err, code = socket.unix('stream')
  else
    s, err, code = socket.tcp(family or self.family or 'inet')
    if s and (family or self.family) == 'inet6' then s:setopt('v6only', true) end
  end
  if not s then return nil, msg(err, code) end
  self.family = self.kind == 'unixstream' and 'unix' or (family or self.family or 'inet')
  adopt(self, s)
  return s
end

-- connecting ----------------------------------------------------------------

-- a port argument (number, numeric string or service name) -> number
local function port_number(port, fname, argn)
  local n = tonumber(port)
  if n then
    if n >= 0 and n <= 65535 and n == floor(n) then return n end
    return nil
  end
  if type(port) ~= 'string' then
    error(('bad argument #%d to \'%s\' (string expected, got %s)'):format(argn, fname, type(port)), 3)
  end
  if port == '' or port:find('\0', 1, true) or #port > 64 then return nil end
  local list = socket.getaddrinfo('127.0.0.1', port, 'inet', 'tcp')
  if list and list[1] then return list[1].port end
  return nil
end
M.port_number = port_number

function methods:connect(address, port)
  check(self, 'connect')
  if type(address) ~= 'string' and type(address) ~= 'number' then
    error(('bad argument #1 to \'connect\' (string expected, got %s)'):format(type(address)), 2)
  end
  address = tostring(address)
  local good, why = U.hostport(address, self.kind ~= 'unixstream' and port or nil)
  if not good then return nil, why end
  local dl = deadline(self)
  local ok, err, code
  if self.kind == 'unixstream' then
    local s
    s, err = ensure(self)
    if not s then return nil, err end
    ok, err, code = s:connect(address, dl)
  else
    local p = port_number(port, 'connect', 2)
    if not p then return nil, 'service not supported for socket type' end
    if self.s then
      ok, err, code = self.s:connect(address, p, dl)
    else
      -- the address picks the family (LuaSocket's tcp() is AF_UNSPEC)
      local ai
      -- (dl: a deadline or nil; never a duration, which socket2's lookup
      -- would take for a deadline long passed: see addr.lua's off_thread)
      ai, err, code = socket.addr(address, p, 'tcp', nil, nil, nil, dl)
      if not ai then return nil, msg(err, code) end
      for a in ai:addrs() do
        local s
        s, err = ensure(self, a:family())
        if not s then return nil, err end
        ok, err, code = s:connect(a:sockaddr(), dl)
        if ok or code == 'EINPROGRESS' then break end
        s:close(); self.s = false
      end
    end
  end
  self.cls = 'client' -- (LuaSocket sets it even when the connect failed)
  if not ok then return nil, msg(err, code) end
  -- socket2 gap: a non-blocking connect that said EINPROGRESS leaves the
  -- socket marked not writable (io_reactor's _wready), and the connect that
  -- later returns 0 does not mark it writable again; with no edge to come
  -- (socket.select saw it writable by poll(2)) every non-blocking send
  -- would say 'would block' without trying. copas does exactly this.
  local s = self.s
  if s and s._wready == false and not s:getblocking() then s._wready = true end
  return 1
end
methods.setpeername = methods.connect

function methods:bind(address, port)
  check(self, 'bind', 'master')
  if type(address) ~= 'string' and type(address) ~= 'number' then
    error(('bad argument #1 to \'bind\' (string expected, got %s)'):format(type(address)), 2)
  end
  address = tostring(address)
  local good, why = U.hostport(address, self.kind ~= 'unixstream' and port or nil)
  if not good then return nil, why end
  local s, err, code, ok
  if self.kind == 'unixstream' then
    s, err = ensure(self)
    if not s then return nil, err end
    ok, err, code = s:bind(address)
  else
    local p = port_number(port, 'bind', 2)
    if not p then return nil, 'service not supported for socket type' end
    if address == '*' then address = nil end
    if not self.s then
      local fam = 'inet'
      if address and address:find(':', 1, true) then fam = 'inet6'
      elseif address and not address:find'^[%d.]+$' then
        local ai = socket.addr(address, p, 'tcp', nil, nil, 'passive', socket.clock() + 60)
        if ai then fam = ai:family() end
      end
      s, err = ensure(self, fam)
      if not s then return nil, err end
    end
    ok, err, code = self.s:bind(address or (self.family == 'inet6' and '::' or '0.0.0.0'), p)
  end
  if not ok then return nil, msg(err, code) end
  return 1
end
methods.setsockname = methods.bind

function methods:listen(backlog)
  check(self, 'listen', 'master')
  backlog = tonumber(backlog) or 32
  local s, err = ensure(self)
  if not s then return nil, err end
  local ok, code
  ok, err, code = s:listen(floor(backlog))
  if not ok then return nil, msg(err, code) end
  self.cls = 'server'
  return 1
end

function methods:accept()
  check(self, 'accept', 'server')
  local s = self.s
  if not s then return nil, 'closed' end
  local c, err, code
  if limit(self) == 0 and WINDOWS then
    -- no non-blocking accept on Windows: socket2's os/windows.lua takes
    -- INVALID_SOCKET for 2^63 (ffi.cast('SOCKET', -1)), so a failed
    -- accept() comes back as a socket. An accept that expires at once.
    s:setblocking(true)
    c, err, code = s:accept(socket.clock())
    s:setblocking(false)
  else
    c, err, code = s:accept(deadline(self))
  end
  if not c then return nil, msg(err, code) end
  local o = new(self.kind, self.family, c, 'client')
  return o
end

-- data ------------------------------------------------------------------------

function methods:send(data, i, j)
  check(self, 'send', 'client')
  local td = type(data)
  if td == 'number' then data = tostring(data)
  elseif td ~= 'string' then error(('bad argument #1 to \'send\' (string expected, got %s)'):format(td), 2) end
  local size = #data
  i = tonumber(i) or 1
  j = tonumber(j) or -1
  i, j = floor(i), floor(j)
  if i < 0 then i = size + i + 1 end
  if j < 0 then j = size + j + 1 end
  if i < 1 then i = 1 end
  if j > size then j = size end
  local s = self.s
  if not s then return nil, 'closed', i - 1 end
  if i > j then return i - 1 end
  local chunk = (i == 1 and j == size) and data or data:sub(i, j)
  local n, err, code, sent = s:sendall(chunk, #chunk, deadline(self))
  if not n then
    sent = sent or 0
    self.sent = self.sent + sent
    return nil, msg(err, code), sent + i - 1
  end
  self.sent = self.sent + n
  return j
end

-- receive([pattern], [prefix]) -> data, or nil, err, partial
function methods:receive(pat, prefix)
  check(self, 'receive', 'client')
  if type(prefix) == 'nil' then prefix = nil -- (a NULL cdata == nil: refused below)
  else
    if type(prefix) == 'number' then prefix = tostring(prefix)
    elseif type(prefix) ~= 'string' then
      error(('bad argument #2 to \'receive\' (string expected, got %s)'):format(type(prefix)), 2)
    end
  end
  local s = self.s
  if not s then return nil, 'closed', prefix or '' end
  local rb, dl = self.rb, deadline(self)
  local data, err, part, code
  local n = tonumber(pat)
  if n then
    if n < 0 then error('bad argument #1 to \'receive\' (invalid receive pattern)', 2) end
    -- luacheck: ignore 581 (NaN fails it too)
    if not (n < 2147483648) then error('bad argument #1 to \'receive\' (invalid receive pattern)', 2) end
    local want = floor(n) - (prefix and #prefix or 0)
    if want <= 0 then
      if prefix then return prefix end
      return ''
    end
    data, err, part, code = rbuf.bytes(rb, s, want, dl)
  else
    pat = pat or '*l'
    if type(pat) ~= 'string' then error('bad argument #1 to \'receive\' (invalid receive pattern)', 2) end
    local p = pat:sub(1, 2)
    if p == '*l' then
      data, err, part, code = rbuf.line(rb, s, dl)
    elseif p == '*a' then
      data, err, part, code = rbuf.all(rb, s, dl)
      -- everything up to the end: 'closed' when there was nothing at all
      if data and #data == 0 then data, err, part, code = nil, 'closed', '', 'EOF' end
    else
      error('bad argument #1 to \'receive\' (invalid receive pattern)', 2)
    end
  end
  if data then
    self.received = self.received + #data
    if prefix then return prefix .. data end
    return data
  end
  self.received = self.received + #part
  if prefix then part = prefix .. part end
  return nil, msg(err, code), part
end

function methods:dirty()
  check(self, 'dirty')
  return rbuf.buffered(self.rb) > 0
end

function methods:getstats()
  check(self, 'getstats', 'client')
  return self.received, self.sent, socket.clock() - self.birth
end

function methods:setstats(r, s, age)
  check(self, 'setstats', 'client')
  r, s, age = tonumber(r), tonumber(s), tonumber(age)
  if r then self.received = r end
  if s then self.sent = s end
  if age and age == age then self.birth = socket.clock() - age end
  return 1
end

-- the rest -----------------------------------------------------------------------

function methods:close()
  check(self, 'close')
  local s = self.s
  if s then
    self.s = false
    s:close()
  end
  rbuf.reset(self.rb)
  return 1
end

local HOW = {receive = 'r', send = 'w', both = 'rw'}
function methods:shutdown(how)
  check(self, 'shutdown', 'client')
  how = how or 'both'
  local h = HOW[how]
  if not h then error(('bad argument #1 to \'shutdown\' (invalid option \'%s\')'):format(tostring(how)), 2) end
  if self.s then self.s:shutdown(h) end
  return 1
end

function methods:settimeout(t, mode)
  check(self, 'settimeout')
  return U.settimeout(self, t, mode)
end
function methods:gettimeout() return U.gettimeout(self) end

local function name_of(self, getter, port_string)
  local s = self.s
  if not s then return nil, 'closed' end
  local sa, err, code = s[getter](s)
  if not sa then return nil, msg(err, code) end
  if self.kind == 'unixstream' then return sa:tostring() end
  local fam = sa:family()
  if port_string then return sa:ip(), tostring(sa:port()), fam end
  return sa:ip(), sa:port(), fam
end
-- (LuaSocket 3.1.0 returns the port of getsockname as a string, of getpeername as a number)
function methods:getpeername() check(self, 'getpeername'); return name_of(self, 'getpeername', false) end
function methods:getsockname() check(self, 'getsockname'); return name_of(self, 'getsockname', true) end

U.fd_methods(methods)

-- The socket2 socket under a LuaSocket object (or nil): for socket.select
-- and for code that mixes both APIs.
function M.socket2(o) return o.s or nil end

return M
