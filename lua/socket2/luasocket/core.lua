-- socket2/luasocket/core.lua: a socket2 implementation of LuaSocket's C
-- core, socket.core (LuaSocket 3.1.0: docs/socket.html, docs/dns.html,
-- src/luasocket.c, except.c, select.c, inet.c), for LuaSocket's own Lua
-- files (socket.lua, socket/http.lua, ...) to run on unchanged.
--
-- protect and newtry are Lua here: LuaJIT's pcall is yieldable, so a
-- protected function may wait in a socket2 thread (C's protect cannot:
-- "attempt to yield across C-call boundary"). select, sleep and the dns
-- functions park the calling socket2 thread (or run the loop outside one).
local socket = require'socket2'
local sys = require'socket2.compat.sys'
local U = require'socket2.luasocket.util'
local tcp = require'socket2.luasocket.tcp'
local udp = require'socket2.luasocket.udp'

local type, tostring, tonumber, error, select, pcall, setmetatable, getmetatable =
  type, tostring, tonumber, error, select, pcall, setmetatable, getmetatable

local core = {}

core._VERSION = 'LuaSocket 3.1.0'
core._SOCKET2 = true -- (this core is socket2's)
core._SETSIZE = 1024 -- (socket2's select has no such limit)
core._SOCKETINVALID = -1
core._DATAGRAMSIZE = udp.DATAGRAMSIZE

-- sockets ---------------------------------------------------------------------------

function core.tcp() return tcp.new('tcp', nil) end
local function tcp_family(family)
  local s, err, code = socket.tcp(family)
  if not s then return nil, U.msg(err, code) end
  if family == 'inet6' then s:setopt('v6only', true) end
  return tcp.new('tcp', family, s)
end
function core.tcp4() return tcp_family('inet') end
function core.tcp6() return tcp_family('inet6') end

function core.udp() return udp.new(nil) end
function core.udp4() return udp.new('inet') end
function core.udp6() return udp.new('inet6') end

local FAMILIES = {unspec = true, inet = true, inet6 = true}

-- connect(address, port, [laddress], [lport], [family]) -> client | nil, err
function core.connect(address, port, laddress, lport, family)
  family = family or 'unspec'
  if not FAMILIES[family] then error(('bad argument #5 to \'connect\' (invalid option \'%s\')'):format(family), 2) end
  local o = tcp.new('tcp', family ~= 'unspec' and family or nil)
  if laddress then
    local ok, err = o:bind(laddress, lport or 0)
    if not ok then o:close(); return nil, err end
  end
  if family ~= 'unspec' and not o.s then
    local s, err, code = socket.tcp(family)
    if not s then return nil, U.msg(err, code) end
    o.s = s
  end
  local ok, err = o:connect(address, port)
  if not ok then o:close(); return nil, err end
  return o
end

-- time ----------------------------------------------------------------------------

core.gettime = sys.now

function core.sleep(n)
  n = tonumber(n)
  if not n then error('bad argument #1 to \'sleep\' (number expected)', 2) end
  if n < 0 then n = 0 end
  socket.sleep(n)
end

-- exceptions (except.c) --------------------------------------------------------------

local wrapped = {} -- the metatable of the errors a try raises (what protect returns)
function wrapped.__tostring(e) return tostring(e[1]) end

function core.newtry(finalizer)
  if finalizer ~= nil and type(finalizer) ~= 'function' then
    error('bad argument #1 to \'newtry\' (function expected)', 2)
  end
  return function(...)
    if not (...) then
      if finalizer then finalizer() end
      error(setmetatable({(select(2, ...))}, wrapped), 0)
    end
    return ...
  end
end

local function finish(ok, ...)
  if ok then return ... end
  local e = ...
  if type(e) == 'table' and getmetatable(e) == wrapped then return nil, e[1] end
  error(e, 0)
end

function core.protect(f)
  if type(f) ~= 'function' then error('bad argument #1 to \'protect\' (function expected)', 2) end
  return function(...) return finish(pcall(f, ...)) end
end

function core.skip(d, ...)
  d = tonumber(d)
  if not d or not (d >= 0 and d < 2147483647) then error('bad argument #1 to \'skip\' (number expected)', 2) end
  d = math.floor(d)
  if d >= select('#', ...) then return end
  return select(d + 1, ...)
end

function core.__unload() end

-- select --------------------------------------------------------------------------

-- The socket2 socket of an object given to select, or a descriptor to wrap.
local function target(o)
  if type(o) ~= 'table' and type(o) ~= 'userdata' then return nil end
  if type(o) == 'table' and U.objects[o] then
    local s = o.s or o.raw
    if s and not s._rrec and s.sock then s = s.sock end -- a socket2.tls socket: its socket
    return s or nil
  end
  local ok, fd = pcall(function() return o:getfd() end)
  if not (ok and type(fd) == 'number' and fd >= 0) then return nil end
  -- a descriptor of one of this core's sockets: that socket (registering
  -- the same descriptor twice with the loop would steal its events)
  for obj in pairs(U.objects) do
    local s = obj.s or obj.raw
    if s and not s._rrec and s.sock then s = s.sock end
    if s and not s:closed() and s:fileno() == fd then return s end
  end
  return fd
end

local function is_dirty(o)
  local ok, d = pcall(function() return o:dirty() end)
  return ok and d
end

-- select(recvt, sendt, [timeout]) -> readable, writable, [err] (each a
-- list that also maps every socket to its index), 'timeout' when nothing
-- got ready. Objects may be LuaSocket ones (this core's) or anything with
-- getfd() (and dirty()).
function core.select(recvt, sendt, timeout)
  timeout = tonumber(timeout) or -1
  local rlist, wlist, back, wrapped_fds = {}, {}, {}, {}
  local dirty = {}
  local function collect(t, list, dirs)
    if t == nil then return end
    if type(t) ~= 'table' then error('bad argument to \'select\' (table expected)', 3) end
    for i = 1, #t do
      local o = t[i]
      if dirs == 'r' and is_dirty(o) then dirty[#dirty + 1] = o end
      local s = target(o)
      if type(s) == 'number' then
        local w = wrapped_fds[s]
        if not w then
          local err
          w, err = socket.wrap(s, 'fd')
          if not w then error('select failed: ' .. tostring(err), 3) end
          wrapped_fds[s] = w
        end
        s = w
      end
      if s and not back[s] then back[s] = {} end
      if s then
        local b = back[s]
        b[#b + 1] = o
        list[#list + 1] = s
      end
    end
  end
  collect(recvt, rlist, 'r')
  collect(sendt, wlist, 'w')
  local r, w, err, code
  if #dirty > 0 then timeout = 0 end
  if #rlist + #wlist == 0 then
    -- nothing to wait for: a sleep (forever, for LuaSocket: refused here)
    if timeout < 0 and #dirty == 0 then error('select: no socket to wait for and no timeout', 2) end
    if timeout > 0 then socket.sleep(timeout) end
    r, w = {}, {}
  else
    r, w, code = socket.select(rlist, wlist, timeout >= 0 and timeout or nil)
    if not r then err = w; r, w = {}, {} end
    -- socket2 gap: what socket.select finds ready (by poll(2)) does not
    -- mark the socket ready for the reactor's next call (io_reactor's
    -- _rready/_wready: cleared by a short read or an EAGAIN, set only by an
    -- edge event), and a non-blocking call (LuaSocket's settimeout(0), as
    -- copas uses it) trusts that mark without trying the syscall: it would
    -- say 'would block' forever. Marked here; harmless on a proactor.
    for i = 1, #r do if r[i]._rready == false then r[i]._rready = true end end
    for i = 1, #w do if w[i]._wready == false then w[i]._wready = true end end
  end
  for _, wr in pairs(wrapped_fds) do wr:release() end
  local rt, wt = {}, {}
  local seen = {}
  local function add(out, o)
    if seen[out] == nil then seen[out] = {} end
    if seen[out][o] then return end
    seen[out][o] = true
    out[#out + 1] = o
    out[o] = #out
  end
  for i = 1, #dirty do add(rt, dirty[i]) end
  for i = 1, #r do for _, o in ipairs(back[r[i]]) do add(rt, o) end end
  for i = 1, #w do for _, o in ipairs(back[w[i]]) do add(wt, o) end end
  if #rt + #wt > 0 then return rt, wt end
  if err and code ~= 'ETIMEDOUT' then return rt, wt, U.msg(err, code) end
  return rt, wt, 'timeout'
end

-- dns ---------------------------------------------------------------------------------

local dns = {}
core.dns = dns

local function gai_msg(err, code)
  if code == 'EAI_NONAME' or code == 'EAI_FAIL' or code == 'EAI_AGAIN' then return 'host not found' end
  return U.msg(err, code)
end

local function resolved(name, list)
  local ips, seen = {}, {}
  for i = 1, #list do
    local a = list[i].addr
    if not seen[a] then seen[a] = true; ips[#ips + 1] = a end
  end
  return {name = name, alias = {}, ip = ips}
end

-- toip(address) -> first IPv4 address, {name, alias, ip} | nil, err
function dns.toip(address)
  if type(address) ~= 'string' then error('bad argument #1 to \'toip\' (string expected)', 2) end
  local list, err, code = socket.getaddrinfo(address, nil, 'inet', 'tcp', nil, 'canonname')
  if not list or #list == 0 then return nil, gai_msg(err, code) end
  return list[1].addr, resolved(list[1].canonname or address, list)
end

-- tohostname(address) -> canonical name, {name, alias, ip} | nil, err
function dns.tohostname(address)
  if type(address) ~= 'string' then error('bad argument #1 to \'tohostname\' (string expected)', 2) end
  if address:find'^%d+%.%d+%.%d+%.%d+$' then
    local sa = socket.sockaddr(address, 0)
    local name, err, code = socket.getnameinfo(sa, 'namereqd')
    if not name then return nil, gai_msg(err, code) end
    return name, {name = name, alias = {}, ip = {address}}
  end
  local list, err, code = socket.getaddrinfo(address, nil, 'inet', 'tcp', nil, 'canonname')
  if not list or #list == 0 then return nil, gai_msg(err, code) end
  local name = list[1].canonname or address
  return name, resolved(name, list)
end

function dns.gethostname()
  local n = sys.hostname()
  if not n then return nil, 'gethostname failed' end
  return n
end

-- getaddrinfo(host) -> {{family = 'inet' | 'inet6', addr = ip}, ...} | nil, err
function dns.getaddrinfo(host)
  if type(host) ~= 'string' then error('bad argument #1 to \'getaddrinfo\' (string expected)', 2) end
  local list, err, code = socket.getaddrinfo(host, nil, nil, 'tcp')
  if not list then return nil, U.msg(err, code) end
  local out = {}
  for i = 1, #list do out[i] = {family = list[i].family, addr = list[i].addr} end
  return out
end

-- getnameinfo(host, [service]) -> {names} [, service name] | nil, err
function dns.getnameinfo(host, serv)
  if type(host) == 'nil' and type(serv) == 'nil' then error('getnameinfo: host and serv cannot be both nil', 2) end
  if type(host) ~= 'nil' and type(host) ~= 'string' then
    error(('bad argument #1 to \'getnameinfo\' (string expected, got %s)'):format(type(host)), 2)
  end
  if type(serv) ~= 'nil' and type(serv) ~= 'string' and type(serv) ~= 'number' then
    error(('bad argument #2 to \'getnameinfo\' (string expected, got %s)'):format(type(serv)), 2)
  end
  if (host and host:find('\0', 1, true)) or (type(serv) == 'string' and serv:find('\0', 1, true)) then
    return nil, 'host or service not provided, or not known'
  end
  local list, err, code = socket.getaddrinfo(host, serv and tostring(serv) or nil, nil, 'tcp')
  if not list then return nil, U.msg(err, code) end
  local names, service = {}, nil
  for i = 1, #list do
    local h, s = socket.getnameinfo(list[i].sockaddr)
    if host then names[#names + 1] = h end
    service = service or s
  end
  if serv then return names, service end
  return names
end

-- unix sockets (LuaSocket's socket.unix module: stream, dgram; the module
-- is callable: socket.unix() = socket.unix.stream()) -----------------------------------

local unix = {_VERSION = 'LuaSocket 3.1.0'}
function unix.stream() return tcp.new('unixstream', 'unix') end
unix.tcp = unix.stream
core.unix = setmetatable(unix, {__call = function() return unix.stream() end})

return core
